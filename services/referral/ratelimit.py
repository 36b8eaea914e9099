"""Requests per minute per API key, counted in this process's memory: no store round trip.

Counting in the store cost two round trips per request (an insert and a count; ``$inc`` is
lost under concurrency on FerretDB, docs/adr/0003) and was a third of POST /v1/referrals.
Instead each gunicorn worker keeps a sliding log of the requests it accepted per key and
allows ``ceil(limit / workers)`` of them in any 60-second interval. So, for one key:

- across the API, at most ``workers * ceil(limit / workers)`` (≤ limit + workers - 1)
  requests are accepted in any 60 s;
- a client is always accepted at least ``ceil(limit / workers)`` times per 60 s, whichever
  worker its connections land on.

Refused requests are not logged (a client that keeps knocking is not locked out longer),
and a sliding log has no window edge where twice the allowance passes. A restarted worker
starts with an empty log. Memory: at most ``allowance`` timestamps per key that called in
the last minute; idle keys are dropped.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

WINDOW_S = 60.0


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    """What this worker allows per 60 s (the X-RateLimit-Limit header)."""
    remaining: int
    retry_after_s: int


def per_worker(limit: int, workers: int) -> int:
    return math.ceil(limit / max(1, workers))


class RateLimiter:
    def __init__(self, limit_per_minute: int, workers: int, clock: Callable[[], datetime]) -> None:
        self.allowance = per_worker(limit_per_minute, workers)
        self._clock = clock
        self._accepted: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._swept = float("-inf")

    def hit(self, key_id: str) -> Verdict:
        now = self._clock().timestamp()
        with self._lock:
            self._sweep(now)
            log = self._accepted.setdefault(key_id, deque())
            _expire(log, now)
            if len(log) >= self.allowance:
                retry = max(1, math.ceil(log[0] + WINDOW_S - now))
                return Verdict(False, self.allowance, 0, retry)
            log.append(now)
            return Verdict(True, self.allowance, self.allowance - len(log), 0)

    def tracked_keys(self) -> int:
        return len(self._accepted)

    def _sweep(self, now: float) -> None:
        """Once a window, forget keys with nothing left in their log (memory stays bounded)."""
        if now - self._swept < WINDOW_S:
            return
        self._swept = now
        for key_id in list(self._accepted):
            log = self._accepted[key_id]
            _expire(log, now)
            if not log:
                del self._accepted[key_id]


def _expire(log: deque[float], now: float) -> None:
    while log and log[0] <= now - WINDOW_S:
        log.popleft()
