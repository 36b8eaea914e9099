"""Idempotency-Key: a retried POST answers what the first one answered, never acts twice.

The decision is one insert: a record ``{school}:{key}`` with the body's hash goes in before
the work, on its unique ``_id``. The insert failing *is* the duplicate check (no read first),
so two concurrent retries cannot both start. The duplicate is then answered as a replay:

- another body → 409 (a client bug);
- an answer stored on the record → that answer (linked duplicates: see below);
- otherwise the work's own trace: the case id is derived from the key (:func:`case_id_for`),
  so a retry finds the case the first request opened and answers it, without the first
  request ever writing its answer back (that write would be one more round trip on every
  keyed POST). Only a linked duplicate, whose answer names another case, stores its answer;
- no trace yet → the first request is still running (409), or crashed: after ``STALE`` the
  retry takes the record over and does the work, which finds what was done (derived case id).

Records are kept for ``window`` (REFERRAL_IDEMPOTENCY_HOURS, default 24 h; docs/services/
referral.md) and then pruned by the worker (shared.housekeeping, :func:`retention`).
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

from shared.housekeeping import Retention

STALE = timedelta(seconds=60)
HEADER = "Idempotency-Key"
COLLECTION = "idempotency"
STAMP = "created_at"


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


def retention(window: timedelta) -> Retention:
    """What the worker prunes: records older than the window the API promises."""
    return Retention(COLLECTION, STAMP, window)


class IdempotencyStore:
    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self._col = db[COLLECTION]
        self._clock = clock

    def begin(
        self, school_id: str, key: str, digest: str, traced: Callable[[], Replay | None]
    ) -> Replay | None:
        """None when this request should do the work; a Replay of the first answer otherwise.

        ``traced`` answers from what the first request's work left in the store (the case it
        opened), or None; it is called only for a duplicate without a stored answer.
        """
        record_id = f"{school_id}:{key}"
        now = self._clock()
        try:
            self._col.insert_one({"_id": record_id, "hash": digest, "state": "pending", STAMP: now})
            return None
        except DuplicateKeyError:
            found = self._col.find_one({"_id": record_id})
        if found is None:  # pruned or abandoned in between
            return self.begin(school_id, key, digest, traced)
        if found["hash"] != digest:
            raise IdempotencyConflict("This Idempotency-Key was already used with a different request body.")
        if found["state"] == "done":
            return Replay(found["status"], found["body"])
        replay = traced()
        if replay is not None:
            return replay
        if _aware(found[STAMP]) > now - STALE:
            raise IdempotencyConflict("A request with this Idempotency-Key is still being processed.")
        taken = self._col.update_one(
            {"_id": record_id, "state": "pending", STAMP: found[STAMP]}, {"$set": {STAMP: now}}
        )
        if taken.modified_count != 1:
            raise IdempotencyConflict("A request with this Idempotency-Key is still being processed.")
        return None

    def finish(self, school_id: str, key: str, status: int, body: dict[str, Any]) -> None:
        """Store an answer the store holds no other trace of (a referral linked to another case)."""
        self._col.update_one(
            {"_id": f"{school_id}:{key}"}, {"$set": {"state": "done", "status": status, "body": body}}
        )

    def abandon(self, school_id: str, key: str) -> None:
        """Forget a key whose request failed, so the client may retry it."""
        self._col.delete_one({"_id": f"{school_id}:{key}", "state": "pending"})


def _aware(value: datetime) -> datetime:
    """The store may hand back naive datetimes (always UTC)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
