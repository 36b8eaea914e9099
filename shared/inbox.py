"""Which events a consumer group has already handled, behind a unique index.

The inbox skips redelivered events cheaply. It cannot by itself make an effect happen
exactly once across a crash (FerretDB has no transactions to tie the marker to the
effect), so handlers also make their writes idempotent: create documents under a key
derived from the event, or guard updates with :func:`once` on the aggregate itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import BulkWriteError

from shared.events import Event

COLLECTION = "processed_events"
APPLIED_FIELD = "applied_events"
DUPLICATE_KEY = 11000


class Inbox:
    def __init__(self, db: Database) -> None:
        self._col = db[COLLECTION]

    def seen_many(self, keys: Sequence[str]) -> set[str]:
        """Which of these dedupe keys were handled before: one ``_id`` lookup for a whole batch."""
        return {doc["_id"] for doc in self._col.find({"_id": {"$in": list(keys)}}, {"_id": 1})}

    def mark_many(self, events: Sequence[Event]) -> None:
        """Record handled events in one insert; an id already there (a concurrent member) counts as seen."""
        if not events:
            return
        now = datetime.now(UTC)
        docs = {e.dedupe_key: {"_id": e.dedupe_key, "type": e.type, "at": now} for e in events}
        try:
            self._col.insert_many(list(docs.values()), ordered=False)
        except BulkWriteError as exc:
            if any(err.get("code") != DUPLICATE_KEY for err in exc.details.get("writeErrors", [])):
                raise


def once(event: Event, query: dict[str, Any]) -> dict[str, Any]:
    """Narrow an update's filter so it applies only if this event has not already been applied."""
    return {**query, APPLIED_FIELD: {"$ne": event.dedupe_key}}


def record_applied(event: Event, update: dict[str, Any]) -> dict[str, Any]:
    """Add the event's key to the aggregate's applied list, in the same single-document update."""
    push = dict(update.get("$push", {}))
    push[APPLIED_FIELD] = event.dedupe_key
    return {**update, "$push": push}
