"""Requests per minute per API key, counted in the store so every gunicorn worker shares the count.

A fixed one-minute window per key. Each request inserts one small document and counts
the window's documents: FerretDB 1.x applies ``$inc`` as a read-modify-write (concurrent
increments are lost; docs/adr/0003), but inserts are never lost, so the count is exact
across gunicorn workers. There are no TTL indexes on FerretDB 1.x, so old windows are
deleted by the requests themselves, once per window per process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pymongo.database import Database

WINDOW_S = 60


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int


class RateLimiter:
    def __init__(self, db: Database, per_minute: int, clock: Callable[[], datetime]) -> None:
        self._col = db.rate_limits
        self._per_minute = per_minute
        self._clock = clock
        self._pruned = -1

    def hit(self, key_id: str) -> Verdict:
        epoch = int(self._clock().timestamp())
        window = epoch // WINDOW_S
        self._col.insert_one({"key_id": key_id, "window": window})
        used = self._col.count_documents({"key_id": key_id, "window": window})
        if window != self._pruned:
            self._pruned = window
            self._col.delete_many({"window": {"$lt": window - 1}})
        retry = WINDOW_S - epoch % WINDOW_S
        return Verdict(used <= self._per_minute, self._per_minute, max(0, self._per_minute - used), retry)
