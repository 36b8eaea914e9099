"""Which events a consumer group has already handled, behind a unique index.

The inbox skips redelivered events cheaply. It cannot by itself make an effect happen
exactly once across a crash (FerretDB has no transactions to tie the marker to the
effect), so handlers also make their writes idempotent: create documents under a key
derived from the event, or guard updates with :func:`once` on the aggregate itself.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from shared.events import Event

COLLECTION = "processed_events"
APPLIED_FIELD = "applied_events"


class Inbox:
    def __init__(self, db: Database) -> None:
        self._col = db[COLLECTION]

    def seen(self, event: Event) -> bool:
        return self._col.find_one({"_id": event.dedupe_key}, {"_id": 1}) is not None

    def mark(self, event: Event) -> None:
        with contextlib.suppress(DuplicateKeyError):
            self._col.insert_one({"_id": event.dedupe_key, "type": event.type, "at": datetime.now(UTC)})


def once(event: Event, query: dict[str, Any]) -> dict[str, Any]:
    """Narrow an update's filter so it applies only if this event has not already been applied."""
    return {**query, APPLIED_FIELD: {"$ne": event.dedupe_key}}


def record_applied(event: Event, update: dict[str, Any]) -> dict[str, Any]:
    """Add the event's key to the aggregate's applied list, in the same single-document update."""
    push = dict(update.get("$push", {}))
    push[APPLIED_FIELD] = event.dedupe_key
    return {**update, "$push": push}
