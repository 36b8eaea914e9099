"""MongoDB access for cases and the open-child claims, plus every index the service relies on.

Only single-document atomic operations are used (FerretDB 1.x): a case and its events are
one document; concurrent writers are kept apart by a ``version`` condition; "one open case
per child" is the unique ``child_slot`` of cases: the child's blind index while the case is
open and holds the child, ``case:<id>`` (unique by construction) once it is closed or when
it is another school's linked case. Opening a case and claiming its child is therefore one
insert, atomic on every store (only unique-key inserts are, on FerretDB 1.x).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Sequence
from typing import Any

from pymongo import DESCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.referral.domain.status import CLOSED
from shared.events import Event
from shared.outbox import Outbox
from shared.store import Index

INDEXES = {
    "cases": [
        Index([("school_ids", 1), ("submitted_at", DESCENDING)], name="school_recent"),
        Index([("school_ids", 1), ("status", 1), ("submitted_at", DESCENDING)], name="school_status_recent"),
        Index([("child_index", 1)], name="child"),
        Index([("child_slot", 1)], unique=True, name="child_slot"),
    ],
    "school_keys": [Index([("key_hash", 1)], unique=True, name="key_hash")],
    "idempotency": [Index([("created_at", 1)], name="created")],  # pruning (shared.housekeeping)
}

MIGRATIONS = "migrations"
SLOT_MIGRATION = "cases.child_slot"


def released(case_id: str) -> str:
    """The ``child_slot`` of a case that does not hold its child (closed, or linked)."""
    return f"case:{case_id}"


# The plaintext-free parts of a case a list needs (the sealed referral is decrypted per item).
SUMMARY = {"outbox": 0, "applied_events": 0, "linked_referrals": 0, "attendance": 0}


class Cases:
    def __init__(self, db: Database, outbox: Outbox) -> None:
        self.col = db.cases
        self._outbox = outbox

    def insert(self, case: dict[str, Any], events: Sequence[Event]) -> bool:
        """Insert a new case with its events; False on a clash: a case with this id exists, or
        (``child_slot``) the child already has an open case. Nothing of it is left behind."""
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
    def holder(self, child_index: str) -> dict[str, Any] | None:
        """The open case holding the child (by the unique ``child_slot``), if any."""
        return self.col.find_one({"child_slot": child_index}, {"outbox": 0})

    def release(self, case_id: str, child_index: str) -> None:
        """Free the child held by a case that is closed (closing normally frees it in its own update)."""
        self.col.update_one(
            {"_id": case_id, "child_slot": child_index}, {"$set": {"child_slot": released(case_id)}}
        )


def backfill_child_slots(db: Database) -> int:
    """Give cases written before ``child_slot`` existed theirs, from the former ``children``
    claims; once per database (a marker in ``migrations``), before the unique index is built.

    Stop every referral process of the old version first: an old process inserting a case
    without ``child_slot`` would clash with the index once it exists.
    """
    if db[MIGRATIONS].find_one({"_id": SLOT_MIGRATION}) is not None:
        return 0
    done = 0
    for case in db.cases.find({"child_slot": {"$exists": False}}, {"child_index": 1, "status": 1}):
        claim = db.children.find_one({"_id": case["child_index"]}) or {}
        holds = claim.get("case_id") == case["_id"] and case["status"] not in CLOSED
        slot = case["child_index"] if holds else released(case["_id"])
        done += db.cases.update_one(
            {"_id": case["_id"], "child_slot": {"$exists": False}}, {"$set": {"child_slot": slot}}
        ).modified_count
    with contextlib.suppress(DuplicateKeyError):
        db[MIGRATIONS].insert_one({"_id": SLOT_MIGRATION, "cases": done})
    return done


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
