"""Idempotency-Key: a retried POST answers what the first one answered, never acts twice.

A record ``{school}:{key}`` is inserted *pending* before the work (a unique ``_id``, so two
concurrent retries cannot both start) and completed with the answer after it. The same key
with another body is a client bug and answers 409. A pending record left by a crashed
request is taken over after ``STALE``; the work it did is found again because the case id
is derived from the key (see :func:`case_id_for`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

STALE = timedelta(seconds=60)
HEADER = "Idempotency-Key"


class IdempotencyConflict(Exception):
    """The key was used with another body, or its first request is still running."""


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict[str, Any]


def body_hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def case_id_for(school_id: str, key: str) -> str:
    return "c-" + hashlib.sha256(f"{school_id}\x00{key}".encode()).hexdigest()[:20]


class IdempotencyStore:
    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self._col = db.idempotency
        self._clock = clock

    def begin(self, school_id: str, key: str, digest: str) -> Replay | None:
        """None when this request should do the work; a Replay of the first answer otherwise."""
        record_id = f"{school_id}:{key}"
        now = self._clock()
        try:
            self._col.insert_one({"_id": record_id, "hash": digest, "state": "pending", "created_at": now})
            return None
        except DuplicateKeyError:
            found = self._col.find_one({"_id": record_id})
        if found is None:
            return self.begin(school_id, key, digest)
        if found["hash"] != digest:
            raise IdempotencyConflict("This Idempotency-Key was already used with a different request body.")
        if found["state"] == "done":
            return Replay(found["status"], found["body"])
        if _aware(found["created_at"]) > now - STALE:
            raise IdempotencyConflict("A request with this Idempotency-Key is still being processed.")
        taken = self._col.update_one(
            {"_id": record_id, "state": "pending", "created_at": found["created_at"]},
            {"$set": {"created_at": now}},
        )
        if taken.modified_count != 1:
            raise IdempotencyConflict("A request with this Idempotency-Key is still being processed.")
        return None

    def finish(self, school_id: str, key: str, status: int, body: dict[str, Any]) -> None:
        self._col.update_one(
            {"_id": f"{school_id}:{key}"}, {"$set": {"state": "done", "status": status, "body": body}}
        )

    def abandon(self, school_id: str, key: str) -> None:
        """Forget a key whose request failed, so the client may retry it."""
        self._col.delete_one({"_id": f"{school_id}:{key}", "state": "pending"})


def _aware(value: datetime) -> datetime:
    """The store may hand back naive datetimes (always UTC)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
