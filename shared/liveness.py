"""Whether a service's worker process is alive and consuming, as its API's readiness sees it.

The worker and the API are separate processes (``make stack``); without this the API said
"ready" while its worker was dead or wedged, and events piled up unseen. The worker's
consumer loop stamps a heartbeat file on every poll, record and retry (throttled to one
``utime`` a second); the API's /readyz fails when the file is missing (the worker never
started or stopped cleanly — it removes the file on the way out) or older than
``WAYMARK_WORKER_STALL_S`` (killed, or stuck in one call). A file, not a port: nothing to
bind, and it works for any number of API processes on the same host.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from shared.http import Check


def heartbeat_path(directory: str, service: str) -> Path:
    return Path(directory) / f"{service}-worker.heartbeat"


class Heartbeat:
    """The worker's side: ``beat()`` often, ``clear()`` when stopping cleanly."""

    def __init__(
        self,
        path: Path,
        every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._every_s = every_s
        self._clock = clock
        self._last: float | None = None

    def beat(self) -> None:
        now = self._clock()
        if self._last is not None and now - self._last < self._every_s:
            return
        first, self._last = self._last is None, now
        if not first:
            try:
                os.utime(self.path)
                return
            except FileNotFoundError:
                pass
        # The first beat (re)writes the file with this process's pid: a restarted worker is told
        # apart from the stale file of the one it replaced.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(f"{os.getpid()}\n")
        tmp.replace(self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def check(path: Path, stall_s: float, now: Callable[[], float] = time.time) -> Check:
    """The API's side: a readiness check failing when the heartbeat is missing or stale."""

    def worker_is_consuming() -> None:
        try:
            stamped = path.stat().st_mtime
        except FileNotFoundError:
            raise RuntimeError(f"worker not running (no heartbeat at {path})") from None
        age = now() - stamped
        if age > stall_s:
            raise RuntimeError(f"worker has not polled for {age:.0f}s (bound {stall_s:.0f}s)")

    return worker_is_consuming
