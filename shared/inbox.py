"""Which events a consumer group has already handled: claims by batch, on unique ``_id`` inserts only.

The inbox skips redelivered events cheaply. It cannot by itself make an effect happen
exactly once across a crash (FerretDB has no transactions to tie the marker to the
effect), so handlers also make their writes idempotent: create documents under a key
derived from the event, or guard updates with :func:`once` on the aggregate itself.

A polled batch costs two inserts, whatever its size, and no lookups: every event id is
claimed for the batch in one ``insert_many`` (a duplicate key means "claimed before"),
and once the batch's effects are done one document marks the batch complete. Only a
duplicate (a redelivery: rare) is read, by ``_id``, to ask whether its batch completed;
if not, the earlier attempt died mid-batch and the event is handled again. Every access
is an insert or an ``_id`` lookup, so it stays on an index on every store (FerretDB 1.x
pushes neither ``$in`` nor ranges down to its backend), and no event is ever marked
before its effect.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import BulkWriteError

from shared.events import Event

COLLECTION = "processed_events"
BATCHES = "processed_batches"
APPLIED_FIELD = "applied_events"
DUPLICATE_KEY = 11000


class Inbox:
    def __init__(self, db: Database) -> None:
        self._claims = db[COLLECTION]
        self._batches = db[BATCHES]

    def begin(self, keys: Iterable[str]) -> InboxBatch:
        """Claim ``keys`` (dedupe keys) for a new batch; the batch knows which were handled before."""
        batch = InboxBatch(self, uuid.uuid4().hex)
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return batch
        now = datetime.now(UTC)
        clashed: list[str] = []
        try:
            self._claims.insert_many(
                [{"_id": k, "batch": batch.id, "at": now} for k in wanted], ordered=False
            )
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(err.get("code") != DUPLICATE_KEY for err in errors):
                raise
            clashed = [wanted[err["index"]] for err in errors]
        for key in clashed:
            if self._completed(key):
                batch.seen.add(key)
            else:  # the attempt that claimed it died before completing: handle it again, in this batch
                self._claims.update_one({"_id": key}, {"$set": {"batch": batch.id, "at": now}})
        return batch

    def handled(self, key: str) -> bool:
        """Whether the event with this dedupe key was handled by a completed batch."""
        return self._completed(key)

    def _completed(self, key: str) -> bool:
        claim = self._claims.find_one({"_id": key})
        if claim is None:  # released meanwhile (dead-lettered): not handled
            return False
        return self._batches.find_one({"_id": claim["batch"]}, {"_id": 1}) is not None


class InboxBatch:
    """One polled batch's claims. ``complete`` says every claim not released was handled."""

    def __init__(self, inbox: Inbox, batch_id: str) -> None:
        self._inbox = inbox
        self.id = batch_id
        self.seen: set[str] = set()

    def release(self, keys: Sequence[str]) -> None:
        """Forget claims whose events were not handled (dead-lettered, or left for redelivery)."""
        for key in keys:
            self._inbox._claims.delete_one({"_id": key, "batch": self.id})

    def complete(self) -> None:
        self._inbox._batches.insert_one({"_id": self.id, "at": datetime.now(UTC)})


def once(event: Event, query: dict[str, Any]) -> dict[str, Any]:
    """Narrow an update's filter so it applies only if this event has not already been applied."""
    return {**query, APPLIED_FIELD: {"$ne": event.dedupe_key}}


def record_applied(event: Event, update: dict[str, Any]) -> dict[str, Any]:
    """Add the event's key to the aggregate's applied list, in the same single-document update."""
    push = dict(update.get("$push", {}))
    push[APPLIED_FIELD] = event.dedupe_key
    return {**update, "$push": push}
