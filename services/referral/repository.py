"""MongoDB access for cases and the open-child claims, plus every index the service relies on.

A case and its timeline are one document. Races are decided the one way that is atomic on
FerretDB 1.x (docs/adr/0003): an insert on a unique key. Every change to a case is first
claimed as the case's next version, ``<case id>:<version>`` in ``case_versions``; exactly
one writer wins each version, and the claim carries the change's events in its outbox
(shared.outbox), so a change and its events are one insert, exactly once. The winner then
folds its change into the case document (guarded by the version it read); a loser waits
for that fold and re-reads. A conditional ``update_one`` alone would not do: FerretDB
applies it as a read-modify-write, and tests/integration/referral/test_case_races.py saw up
to 8 of 8 concurrent writers "win" one version.

"One open case per child" is the unique ``child_slot`` of cases: the child's blind index
while the case is open and holds the child, ``case:<id>`` (unique by construction) once it
is closed or when it is another school's linked case. Opening a case and claiming its
child is therefore one insert, atomic on every store.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
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

VERSIONS = "case_versions"
"""The claims of case versions; ``_id`` (unique on every store) is the claim. Kept: each is
the proof of its change's events (shared.outbox) and the log a crashed fold is redone from."""
FOLD_WAIT_S = 2.0
"""How long a writer that lost a version waits for the winner's fold before presuming the
winner died and folding the claim itself (a fold takes one round trip)."""
MIGRATIONS = "migrations"
SLOT_MIGRATION = "cases.child_slot"


def released(case_id: str) -> str:
    """The ``child_slot`` of a case that does not hold its child (closed, or linked)."""
    return f"case:{case_id}"


# The plaintext-free parts of a case a list needs (the sealed referral is decrypted per item).
SUMMARY = {"outbox": 0, "applied_events": 0, "linked_referrals": 0, "attendance": 0}


class Cases:
    def __init__(self, db: Database, outbox: Outbox, *, fold_wait_s: float = FOLD_WAIT_S) -> None:
        self.col = db.cases
        self.versions = db[VERSIONS]
        self._outbox = outbox
        self._fold_wait_s = fold_wait_s

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

        Winning the version means the change was decided on ``case`` as read and is the
        case's next state, so it is ``update`` applied to ``case`` here, without a read-back.
        """
        if not self.update(case, update, events):
            return None
        return applied(case, {**update, "$inc": {**update.get("$inc", {}), "version": 1}})

    def update(
        self, case: dict[str, Any], update: dict[str, Any], events: Sequence[Event] = (), **guard: Any
    ) -> bool:
        """Make ``update`` (with ``events``) the case's next version if nobody has claimed it
        since ``case`` was read, and if ``case`` meets ``guard``; False otherwise (re-read, retry).

        ``update`` may use ``$set``, ``$inc`` and ``$push`` (dotted paths). ``guard`` is checked
        on ``case`` as read (field equality, or ``{"$ne": value}``): the claim makes that
        read the case's current state.
        """
        if not all(_meets(case.get(name), condition) for name, condition in guard.items()):
            return False
        version = case["version"] + 1
        claim = {
            "_id": version_key(case["_id"], version),
            "case_id": case["_id"],
            "version": version,
            "ops": _ops(update),
            "at": datetime.now(UTC),
        }
        try:
            self._outbox.insert_one(self.versions, claim, events)
        except DuplicateKeyError:
            self._follow(case["_id"], case["version"])
            return False
        self._fold(claim)
        return True

    def catch_up(self, case_id: str) -> int:
        """Fold, in order, every claimed version the case document has not seen (a writer
        died between its claim and its fold); returns how many."""
        doc = self.col.find_one({"_id": case_id}, {"version": 1})
        if doc is None:
            return 0
        folded, version = 0, doc["version"]
        while (claim := self.versions.find_one({"_id": version_key(case_id, version + 1)})) is not None:
            self._fold(claim)
            folded, version = folded + 1, version + 1
        return folded

    def _follow(self, case_id: str, version: int) -> None:
        """Version ``version + 1`` is claimed: wait until its winner has folded it (the
        loser's re-read then sees it), or fold it here once the winner seems gone."""
        deadline = time.monotonic() + self._fold_wait_s
        pause = 0.005
        while time.monotonic() < deadline:
            doc = self.col.find_one({"_id": case_id}, {"version": 1})
            if doc is None or doc["version"] > version:
                return
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
        self.catch_up(case_id)

    def _fold(self, claim: Mapping[str, Any]) -> None:
        """Write a won version into the case document, from the version before it.

        Only the claim's winner folds it (or, after a crash, whoever catches up), and the
        next version can only be claimed by a writer that read this fold's result, so one
        writer at a time writes a case: FerretDB's read-modify-write has no rival to lose to.
        """
        self.col.update_one(
            {"_id": claim["case_id"], "version": claim["version"] - 1},
            _update(claim["ops"], claim["version"]),
        )

    # -- one open case per child ------------------------------------------------------------
    def holder(self, child_index: str) -> dict[str, Any] | None:
        """The open case holding the child (by the unique ``child_slot``), if any."""
        return self.col.find_one({"child_slot": child_index}, {"outbox": 0})

    def release(self, case: dict[str, Any]) -> bool:
        """Free the child held by a case that is closed (closing normally frees it in its own
        change); False if the case changed meanwhile (re-read, retry)."""
        return self.update(case, {"$set": {"child_slot": released(case["_id"])}})


def version_key(case_id: str, version: int) -> str:
    """The claim of a case's version: ordered by version within a case."""
    return f"{case_id}:{version:07d}"


def _meets(value: Any, condition: Any) -> bool:
    if isinstance(condition, Mapping):
        if set(condition) != {"$ne"}:
            raise ValueError(f"cannot check guard {condition}")
        forbidden = condition["$ne"]
        return forbidden not in value if isinstance(value, list) else value != forbidden
    return value == condition


def _ops(update: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An update as ``{op, path, value}`` rows: storable on every store, where an update
    document's dotted paths and ``$each`` keys are not field names (and FerretDB 1.x stores
    no arrays directly inside arrays)."""
    rows: list[dict[str, Any]] = []
    for operator, changes in update.items():
        if operator not in ("$set", "$inc", "$push"):
            raise ValueError(f"cannot claim {operator}")
        for path, value in changes.items():
            if operator != "$push":
                rows.append({"op": operator, "path": path, "value": value})
            elif isinstance(value, Mapping) and "$each" in value:
                rows.append({"op": operator, "path": path, "value": list(value["$each"])})
            else:
                rows.append({"op": operator, "path": path, "value": [value]})
    return rows


def _update(ops: Sequence[Mapping[str, Any]], version: int) -> dict[str, Any]:
    """The update document of claimed rows, setting the case's version to the claimed one."""
    update: dict[str, dict[str, Any]] = {"$set": {"version": version}}
    for row in ops:
        value = {"$each": row["value"]} if row["op"] == "$push" else row["value"]
        update.setdefault(row["op"], {})[row["path"]] = value
    return update


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
