"""Whether a service's worker process is alive and consuming, as its API's readiness sees it.

The worker and the API are separate processes (``make stack``); without this the API said
"ready" while its worker was dead or wedged, and events piled up unseen. The worker's
consumer loop stamps a heartbeat file on every poll, record and retry (throttled to one
``utime`` a second); the API's /readyz fails when the file is missing (the worker never
started or stopped cleanly — it removes the file on the way out) or older than
``WAYMARK_WORKER_STALL_S`` (killed, or stuck in one call). A file, not a port: nothing to
bind, and it works for any number of API processes on the same host.

Several workers of one service (``make stack`` runs two) each stamp their own file, numbered by
``WAYMARK_WORKER_INSTANCE`` (``<service>-worker-<n>.heartbeat``; a restarted instance rewrites
its predecessor's); the API is ready while at least one of them is fresh — one live worker
consumes every partition and, holding the duty lease, runs the duties (shared.leadership).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from shared.http import Check


def heartbeat_path(directory: str, service: str, instance: str = "") -> Path:
    """``<service>-worker.heartbeat``, or ``<service>-worker-<instance>.heartbeat`` for a numbered worker."""
    suffix = f"-{instance}" if instance else ""
    return Path(directory) / f"{service}-worker{suffix}.heartbeat"


def heartbeats(path: Path) -> list[Path]:
    """The unnumbered heartbeat ``path`` and its numbered siblings (one per worker instance)."""
    stem = path.name.removesuffix(".heartbeat")
    return [path, *sorted(path.parent.glob(f"{stem}-*.heartbeat"))]


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
    """The API's side: a readiness check failing when every worker's heartbeat is missing or stale.

    ``path`` is the unnumbered heartbeat; numbered ones beside it (several workers) count too.
    """

    def worker_is_consuming() -> None:
        stamps = []
        for each in heartbeats(path):
            try:
                stamps.append(each.stat().st_mtime)
            except FileNotFoundError:
                continue
        if not stamps:
            raise RuntimeError(f"worker not running (no heartbeat at {path})")
        age = now() - max(stamps)
        if age > stall_s:
            raise RuntimeError(f"worker has not polled for {age:.0f}s (bound {stall_s:.0f}s)")

    return worker_is_consuming
