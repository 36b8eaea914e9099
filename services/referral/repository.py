"""MongoDB access for cases and the open-child claims, plus every index the service relies on.

Only single-document atomic operations are used (FerretDB 1.x): a case and its events are
one document; concurrent writers are kept apart by a ``version`` condition; "one open case
per child" is a unique ``_id`` in ``children``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import DESCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from shared.events import Event
from shared.outbox import Outbox
from shared.store import Index

INDEXES = {
    "cases": [
        Index([("school_ids", 1), ("submitted_at", DESCENDING)], name="school_recent"),
        Index([("school_ids", 1), ("status", 1), ("submitted_at", DESCENDING)], name="school_status_recent"),
        Index([("child_index", 1)], name="child"),
    ],
    "school_keys": [Index([("key_hash", 1)], unique=True, name="key_hash")],
    "idempotency": [Index([("created_at", 1)], name="created")],
    "rate_limits": [
        Index([("key_id", 1), ("window", 1)], name="key_window"),
        Index([("window", 1)], name="window"),
    ],
}

# The plaintext-free parts of a case a list needs (the sealed referral is decrypted per item).
SUMMARY = {"outbox": 0, "applied_events": 0, "linked_referrals": 0, "attendance": 0}


class Cases:
    def __init__(self, db: Database, outbox: Outbox) -> None:
        self.col = db.cases
        self.children = db.children
        self._outbox = outbox

    def insert(self, case: dict[str, Any], events: Sequence[Event]) -> bool:
        """Insert a new case with its events; False when a case with this id already exists."""
        try:
            self._outbox.insert_one(self.col, case, events)
        except DuplicateKeyError:
            return False
        return True

    def get(self, case_id: str) -> dict[str, Any] | None:
        return self.col.find_one({"_id": case_id}, {"outbox": 0})

    def get_for_school(self, case_id: str, school_id: str) -> dict[str, Any] | None:
        return self.col.find_one({"_id": case_id, "school_ids": school_id}, {"outbox": 0})

    def page(self, school_id: str, status: str | None, page: int, per_page: int) -> tuple[list[dict], int]:
        query: dict[str, Any] = {"school_ids": school_id}
        if status:
            query["status"] = status
        total = self.col.count_documents(query)
        cursor = (
            self.col.find(query, SUMMARY)
            .sort([("submitted_at", DESCENDING), ("_id", DESCENDING)])
            .skip((page - 1) * per_page)
            .limit(per_page)
        )
        return list(cursor), total

    def update(
        self, case: dict[str, Any], update: dict[str, Any], events: Sequence[Event] = (), **guard: Any
    ) -> bool:
        """Apply ``update`` if nobody changed the case since it was read (its version); bump it."""
        query = {"_id": case["_id"], "version": case["version"], **guard}
        update = {**update, "$inc": {**update.get("$inc", {}), "version": 1}}
        return self._outbox.update_one(self.col, query, update, events).modified_count == 1

    # -- one open case per child ------------------------------------------------------------
    def claim_child(self, child_index: str, case_id: str) -> str | None:
        """Claim the child for ``case_id``; the case id already holding the claim, or None if won."""
        try:
            self.children.insert_one({"_id": child_index, "case_id": case_id})
            return None
        except DuplicateKeyError:
            held = self.children.find_one({"_id": child_index})
            return held["case_id"] if held else self.claim_child(child_index, case_id)

    def take_over_child(self, child_index: str, stale_case_id: str, case_id: str) -> bool:
        """Replace a claim whose case is closed or was never written (a crash after claiming)."""
        result = self.children.update_one(
            {"_id": child_index, "case_id": stale_case_id}, {"$set": {"case_id": case_id}}
        )
        return result.modified_count == 1

    def release_child(self, child_index: str, case_id: str) -> None:
        self.children.delete_one({"_id": child_index, "case_id": case_id})
