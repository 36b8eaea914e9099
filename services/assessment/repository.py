"""Cases as a chain of numbered changes: races decided by a unique insert, state folded into one document.

FerretDB 1.x applies every update as a read-modify-write of the whole document, so a
conditional ``update_one`` can have several winners (docs/adr/0003). The one atomic
operation is an insert on a unique key. So every change to a case is first inserted
into ``case_changes`` under ``<case id>:<revision>``: exactly one writer wins each
revision, and the change carries its events in its outbox (shared.outbox), so a state
change and its events are one insert. The writer then folds the change it just won into
the ``cases`` document (the read model: queue, history) without reading it back. A crash
between the two is repaired by the next writer of that case (its claim of the next
revision collides with the unfolded one, so it folds what is missing and retries), by a
redelivery of the event that created the case, and by every ``get``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.assessment import scope
from shared import faults, inbox
from shared.events import Event
from shared.outbox import Outbox
from shared.store import Index

CASES, CHANGES = "cases", "case_changes"
ACTIVE = "active"
INDEXES = {
    CASES: [
        # Escalated cases first (HZ-11), then band, score (high first), referral date. A new
        # name: an existing store keeps the old index beside it rather than refusing to start.
        Index(
            [
                *(("status", ASCENDING), ("escalated", DESCENDING), ("band", ASCENDING)),
                *(("score", DESCENDING), ("referred_on", ASCENDING)),
            ],
            name="queue_order_escalated_first",
        ),
        # The same queue for a hospital-scoped clinician (services/assessment/scope.py):
        # equality on status and the multikey hospital_ids ($in: one merge per hospital).
        Index(
            [
                *(("status", ASCENDING), ("hospital_ids", ASCENDING), ("escalated", DESCENDING)),
                *(("band", ASCENDING), ("score", DESCENDING), ("referred_on", ASCENDING), ("_id", ASCENDING)),
            ],
            name="queue_by_hospital",
        ),
        # Referral review (services/assessment/review.py): a hospital's worklist, escalated
        # first then oldest referral; and the overdue count (equality on status, range on due).
        Index(
            [
                *(("status", ASCENDING), ("review_hospital", ASCENDING)),
                *(("escalated", DESCENDING), ("referred_on", ASCENDING), ("_id", ASCENDING)),
            ],
            name="reviews_by_hospital",
        ),
        Index([("status", ASCENDING), ("review_due_at", ASCENDING)], name="reviews_due"),
    ],
    CHANGES: [
        Index([("case_id", ASCENDING), ("rev", ASCENDING)], unique=True, name="case_rev"),
    ],
}
QUEUE_FIELDS = dict.fromkeys(
    [
        *("_id", "band", "score", "target_days", "referred_on", "triage_version"),
        *("overridden", "clinic_type", "school_intervention", "escalated", "status", "needs_review"),
    ],
    1,
)
REVIEW_FIELDS = dict.fromkeys(
    ["_id", "referred_on", "review", "review_due_at", "escalated", "escalated_reasons", "status"], 1
)
MAX_ATTEMPTS = 8


class UnknownCase(LookupError):
    """No case with this id (its referral has not been consumed, or never existed)."""


class ConcurrentChange(RuntimeError):
    """Other writers kept winning the next revision; the caller may retry."""


@dataclass
class Change:
    """What a mutation does to a case: fields to set, items to append, the events it causes."""

    set: Mapping[str, Any] = field(default_factory=dict)
    push: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    events: Sequence[Event] = ()
    result: Any = None


Mutation = Callable[[dict[str, Any]], Change | None]


def _with_hospitals(doc: Mapping[str, Any], change: Change) -> Change:
    """Keep the top-level ``hospital_ids`` the scoped lists filter on in step with the change."""
    hospitals = scope.case_hospitals({**doc, **change.set})
    if doc.get(scope.FIELD) == hospitals:
        return change
    return dataclasses.replace(change, set={**change.set, scope.FIELD: hospitals})


class CaseRepository:
    def __init__(self, db: Database, outbox: Outbox) -> None:
        self.collection = db[CASES]
        self.changes = db[CHANGES]
        self._outbox = outbox

    def get(self, case_id: str, fields: Mapping[str, int] | None = None) -> dict[str, Any] | None:
        """The case, with any changes not yet folded in applied first."""
        self._catch_up(case_id)
        return self.collection.find_one({"_id": case_id}, dict(fields) if fields else None)

    def create(self, doc: dict[str, Any], events: Sequence[Event], event: Event | None = None) -> bool:
        """Create a case (revision 1) with its events; False if it already exists."""
        record = self._record(doc["_id"], 1, Change(), event)
        record["create"] = {**doc, scope.FIELD: scope.case_hospitals(doc)}
        try:
            self._outbox.insert_one(self.changes, record, events)
        except DuplicateKeyError:
            self._catch_up(doc["_id"])  # a redelivery after a crash before the fold must still fold
            return False
        faults.crash_point("assessment.case_created_before_fold")  # tests only (shared.faults)
        self._fold(record)
        return True

    def mutate(self, case_id: str, mutation: Mutation, event: Event | None = None) -> Any:
        """Apply ``mutation`` to the current case as its next revision, retrying if another writer won it.

        With ``event``, the change is applied at most once for that event (redeliveries
        are no-ops). Returns the mutation's result, or None when it had nothing to do.
        """
        doc = self.collection.find_one({"_id": case_id})
        for _ in range(MAX_ATTEMPTS):
            if doc is None:
                doc = self.get(case_id)  # perhaps created but not yet folded
                if doc is None:
                    raise UnknownCase(case_id)
            if event is not None and event.dedupe_key in doc.get(inbox.APPLIED_FIELD, []):
                return None
            change = mutation(doc)
            if change is None:
                return None
            change = _with_hospitals(doc, change)
            record = self._record(case_id, doc["rev"] + 1, change, event)
            try:
                self._outbox.insert_one(self.changes, record, change.events)
            except DuplicateKeyError:
                doc = self.get(case_id)  # another writer (or an unfolded crash) holds it: catch up, retry
                continue
            self._fold(record)
            return change.result
        raise ConcurrentChange(f"case {case_id}: {MAX_ATTEMPTS} revisions lost to other writers")

    def queue(
        self, band: str | None, limit: int, offset: int, within: Mapping[str, Any] | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """Active cases in queue order: escalated first (HZ-11), then band, score (high first), referral date.

        ``within`` narrows it to a hospital-scoped clinician's hospitals (scope.list_filter;
        index queue_by_hospital)."""
        query: dict[str, Any] = {"status": ACTIVE, **(within or {})}
        if band:
            query["band"] = band
        order = [
            *(("escalated", DESCENDING), ("band", ASCENDING), ("score", DESCENDING)),
            *(("referred_on", ASCENDING), ("_id", ASCENDING)),
        ]
        cursor = self.collection.find(query, QUEUE_FIELDS).sort(order).skip(offset).limit(limit)
        return list(cursor), self.collection.count_documents(query)

    def awaiting_review(self, hospital: str, limit: int) -> list[dict[str, Any]]:
        """A hospital's referrals awaiting review: escalated first, then oldest referral (index
        reviews_by_hospital); bounded by ``limit``."""
        query = {"status": "awaiting_review", "review_hospital": hospital}
        order = [("escalated", DESCENDING), ("referred_on", ASCENDING), ("_id", ASCENDING)]
        return list(self.collection.find(query, REVIEW_FIELDS).sort(order).limit(limit))

    def overdue_reviews(self, now: datetime, limit: int) -> int:
        """Referrals still awaiting review past their deadline, counted up to ``limit`` (index reviews_due)."""
        query = {"status": "awaiting_review", "review_due_at": {"$lte": now}}
        return len(
            list(self.collection.find(query, {"_id": 1}).sort("review_due_at", ASCENDING).limit(limit))
        )

    @staticmethod
    def _record(case_id: str, rev: int, change: Change, event: Event | None) -> dict[str, Any]:
        return {
            "_id": f"{case_id}:{rev:07d}",
            "case_id": case_id,
            "rev": rev,
            "set": dict(change.set),
            "push": {k: list(v) for k, v in change.push.items()},
            "event": event.dedupe_key if event else None,
            "at": datetime.now(UTC),
        }

    def _catch_up(self, case_id: str) -> None:
        """Fold, in revision order, every change the case document has not seen yet."""
        current = self.collection.find_one({"_id": case_id}, {"rev": 1})
        rev = current["rev"] if current else 0
        for change in self.changes.find({"case_id": case_id, "rev": {"$gt": rev}}).sort("rev", ASCENDING):
            if change["rev"] != rev + 1:
                break  # a gap cannot happen (revisions are claimed in order); stop rather than skip
            self._fold(change)
            rev = change["rev"]

    def _fold(self, change: Mapping[str, Any]) -> None:
        applied = [change["event"]] if change.get("event") else []
        if change["rev"] == 1:
            doc = {**change["create"], "rev": 1, inbox.APPLIED_FIELD: applied}
            with contextlib.suppress(DuplicateKeyError):  # another reader folded it first
                self.collection.insert_one(doc)
            return
        push = {k: {"$each": v} for k, v in change["push"].items() if v}
        if applied:
            push[inbox.APPLIED_FIELD] = {"$each": applied}
        update: dict[str, Any] = {"$set": {**change["set"], "rev": change["rev"]}}
        if push:
            update["$push"] = push
        # Only the writer that won revision N (or a reader repairing its crash) folds it,
        # from revision N-1; two folds of the same change write the same document.
        self.collection.update_one({"_id": change["case_id"], "rev": change["rev"] - 1}, update)
