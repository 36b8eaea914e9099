"""Releasing several threads at once against one decision, for the exactly-one-winner tests."""

from __future__ import annotations

import threading
from collections.abc import Callable


def race(n: int, attempt: Callable[[int], object], lost: type[BaseException]) -> list[object]:
    """Run ``attempt(0..n-1)`` on n threads released together; the non-None results.

    An ``attempt`` that raises ``lost`` lost the race; any other exception fails the test.
    """
    barrier = threading.Barrier(n)
    won: list[object] = []
    errors: list[BaseException] = []

    def run(k: int) -> None:
        barrier.wait()
        try:
            result = attempt(k)
        except lost:
            return
        except BaseException as exc:  # surfaced below, in the test's own thread
            errors.append(exc)
            return
        if result is not None:
            won.append(result)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return won
