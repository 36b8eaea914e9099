"""MongoDB access for cases and the open-child claims, plus every index the service relies on.

Only single-document atomic operations are used (FerretDB 1.x): a case and its events are
one document; concurrent writers are kept apart by a ``version`` condition; "one open case
per child" is a unique ``_id`` in ``children``.
"""

from __future__ import annotations

import copy
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
    "idempotency": [Index([("created_at", 1)], name="created")],  # pruning (shared.housekeeping)
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
        """The case if ``school_id`` referred it, else None (also for other schools' cases).

        Read by ``_id`` alone, the one query every store serves from its primary index; the
        tenancy check is made on the document (``{_id, school_ids}`` as a filter is not an
        ``_id`` lookup to FerretDB's planner).
        """
        case = self.get(case_id)
        return case if case is not None and school_id in case["school_ids"] else None

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

    def updated(
        self, case: dict[str, Any], update: dict[str, Any], events: Sequence[Event] = ()
    ) -> dict[str, Any] | None:
        """:meth:`update`, and the case as this write left it (None if someone changed it first).

        The version guard means the update was applied to ``case`` as read, so the new state is
        ``update`` applied to ``case`` here, without reading it back. (On FerretDB 1.x a guarded
        update can have two winners, docs/adr/0003; a read-back could then show either write,
        so it promised no more than this does.)
        """
        if not self.update(case, update, events):
            return None
        return applied(case, {**update, "$inc": {**update.get("$inc", {}), "version": 1}})

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


def applied(doc: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``doc`` after ``update`` ($set, $push with or without $each, $inc; dotted paths), as the
    store applies it. Other operators raise, so a new kind of update cannot be mirrored wrongly."""
    new = copy.deepcopy(doc)
    for operator, changes in update.items():
        for path, value in changes.items():
            parent, name = _parent(new, path)
            if operator == "$set":
                parent[name] = value
            elif operator == "$inc":
                parent[name] = parent.get(name, 0) + value
            elif operator == "$push":
                each = value["$each"] if isinstance(value, dict) and "$each" in value else [value]
                parent[name] = [*parent.get(name, []), *each]
            else:
                raise ValueError(f"cannot mirror {operator}")
    return new


def _parent(doc: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    *parents, name = path.split(".")
    for part in parents:
        doc = doc.setdefault(part, {})
    return doc, name
