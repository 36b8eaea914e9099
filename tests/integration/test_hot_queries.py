"""Every hot query of every service is answered from an index by the real store (issue 9, ADR 0004).

Each service is built through its own bootstrap on a fresh database, so the indexes checked
are exactly the ones it declares; the collection is then seeded with documents varied on the
queried fields (a planner rightly scans a near-empty table), and the store's own ``explain``
must show an index read and no full scan. A query added to a hot path belongs in this table.

On FerretDB 1.24 "answered from an index" covers what FerretDB pushes down to its backend:
top-level equality. The ranges and sorts listed below are applied by FerretDB to the rows the
indexed equality returns (docs/adr/0004-store-ferretdb-on-postgresql.md); ``$in`` is never
pushed down, which is why no hot path uses it on a large collection.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.assessment.bootstrap import build as build_assessment
from services.notification.bootstrap import build as build_notification
from services.referral.bootstrap import build as build_referral
from services.scheduling.bootstrap import build as build_scheduling
from shared.auth import REVOKED, RevocationList
from shared.settings import Settings
from tests.support.plans import assert_index_used

pytestmark = pytest.mark.integration

N = 800
VARIETY = 20
NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
BUILDERS: Mapping[str, Callable[..., Any]] = {
    "referral": build_referral,
    "assessment": build_assessment,
    "scheduling": lambda settings, db: build_scheduling(settings, db=db, run_duties=False),
    "notification": build_notification,
    "auth": lambda settings, db: RevocationList(db),  # every service's database's neighbour
}


@dataclass(frozen=True)
class Hot:
    service: str
    collection: str
    filter: Mapping[str, Any]
    why: str


def v(n: int) -> str:
    return f"v{n}"


HOT = [
    # shared mechanism, in every service's database
    Hot("referral", "processed_events", {"_id": v(7)}, "inbox: a redelivery's claim"),
    Hot("referral", "processed_batches", {"_id": v(7)}, "inbox: did that claim's batch complete"),
    # referral
    Hot("referral", "cases", {"_id": v(7)}, "every case route reads by _id"),
    Hot("referral", "cases", {"child_slot": v(7)}, "a duplicate referral reads the child's open case"),
    Hot("referral", "case_versions", {"_id": v(7)}, "a lost version's catch-up"),
    Hot("referral", "school_keys", {"key_hash": v(7), "revoked_at": None}, "a key's first request"),
    Hot("referral", "schools", {"_id": v(7)}, "webhook and FHIR: the school document"),
    Hot("referral", "cases", {"school_ids": v(7), "status": v(3)}, "a school's case list (then sorted)"),
    Hot("referral", "access_log", {"case_id": v(7)}, "who read a case's school note (then sorted by at)"),
    Hot("referral", "advice", {"hospital_id": v(7), "state": v(3)}, "clinicians' open advice questions"),
    # assessment
    Hot("assessment", "cases", {"_id": v(7)}, "every mutation reads the case by _id"),
    Hot("assessment", "case_changes", {"case_id": v(7), "rev": {"$gt": 3}}, "catching up unfolded changes"),
    Hot("assessment", "questionnaires", {"token": v(7)}, "the guardian's page"),
    Hot("assessment", "questionnaires", {"_id": v(7)}, "notification fetches the link"),
    Hot("assessment", "cases", {"status": v(3)}, "the clinician queue (escalated, band, score sorted)"),
    Hot("assessment", "cases", {"status": v(3), "review_hospital": v(7)}, "a hospital's review worklist"),
    Hot("assessment", "cases", {"status": v(3), "review_due_at": {"$lte": NOW}}, "overdue reviews (gauge)"),
    Hot(
        "assessment",
        "cases",
        {"needs_review": True, "status": v(3), "referred_on": {"$gt": ""}},
        "cases awaiting review (then keyset order referred_on, _id)",
    ),
    Hot(
        "assessment",
        "cases",
        {"status": v(3), "hospital_ids": v(7)},
        "a hospital-scoped clinician's queue (then escalated, band, score sorted)",
    ),
    Hot(
        "assessment",
        "cases",
        {"needs_review": True, "status": v(3), "hospital_ids": v(7), "referred_on": {"$gt": ""}},
        "a hospital-scoped clinician's cases awaiting review (then keyset order)",
    ),
    Hot("assessment", "tasks", {"_id": v(7)}, "a task by id (FHIR export, transitions)"),
    Hot(
        "assessment",
        "tasks",
        {"owner": v(7), "state": v(3), "hospital_id": v(7)},
        "a hospital-scoped clinician's worklist (then due_at)",
    ),
    Hot("assessment", "tasks", {"owner": v(7), "state": v(3)}, "a clinician's worklist (then due_at)"),
    Hot("assessment", "tasks", {"duty": v(3), "duty_at": {"$lte": NOW}}, "due re-alerts and breaches"),
    Hot("assessment", "tasks", {"case_id": v(7), "owner": v(7)}, "does this clinician hold a task"),
    Hot("assessment", "task_claims", {"task_id": v(7)}, "folding a task's transitions"),
    Hot("assessment", "contact_access_log", {"case_id": v(7)}, "a case's access log (then at)"),
    Hot("assessment", "rule_tables", {"_id": v(7)}, "the rule table a stored triage's version names"),
    # scheduling
    Hot("scheduling", "waitlist", {"_id": v(7)}, "every entry update reads by _id"),
    Hot(
        "scheduling",
        "waitlist",
        {"walk_priority": v(7), "state": v(3), "sort_keys.priority": {"$gt": ""}},
        "one bucket of a waitlist page (sort and cursor applied to the bucket's rows)",
    ),
    Hot("scheduling", "waitlist", {"walk_breach_date": v(7), "state": v(3)}, "a page by breach date"),
    Hot(
        "scheduling",
        "waitlist",
        {"walk_referred_on": v(7), "state": v(3), "eligible_hospitals": v(7)},
        "a hospital's page by referral date",
    ),
    Hot(
        "scheduling",
        "waitlist",
        {"walk_priority": v(7), "state": v(3), "eligible_hospitals": v(7), "clinic_type": v(5)},
        "offer candidates: one bucket of a band's waiting families",
    ),
    Hot("scheduling", "waitlist_walk", {"up": v(7)}, "the days of a lane, the buckets of a day"),
    Hot(
        "scheduling",
        "entry_raises",
        {"bucket": v(7), "key": {"$gt": v(7)}},
        "HZ-15 repair: one ten-minute bucket of recorded raises, keyset by key",
    ),
    Hot(
        "scheduling",
        "slots",
        {"week": v(7), "state": v(3), "kind": v(2), "clinic_type": v(5)},
        "open intake slots of one week (best slot for a new family, filling slots)",
    ),
    Hot(
        "scheduling", "waitlist", {"home_hospital": v(7), "state": v(3), "band": v(2)}, "pressure suggestions"
    ),
    Hot("scheduling", "slots", {"_id": v(7)}, "booking reads the slot"),
    Hot(
        "scheduling",
        "slots",
        {"hospital_id": v(7), "state": v(3), "kind": v(3), "clinic_type": v(5)},
        "an escalated booking's earlier slot, per eligible hospital (then start range, sorted)",
    ),
    Hot("scheduling", "claims", {"_id": v(7)}, "who holds a slot, an offer's answer"),
    Hot("scheduling", "meta", {"_id": v(7)}, "a family's first offer: the open-slot token (openings.py)"),
    Hot("scheduling", "offers", {"token_hash": v(7)}, "the guardian answers an offer"),
    Hot("scheduling", "offers", {"_id": v(7)}, "an offer by id"),
    Hot("scheduling", "appointments", {"_id": v(7)}, "record, cancel, reschedule"),
    Hot("scheduling", "appointments", {"case_id": v(7)}, "a case's appointments"),
    # notification
    Hot("notification", "deliveries", {"_id": v(7)}, "claiming a delivery"),
    Hot("notification", "deliveries", {"state": v(3), "next_attempt_at": {"$lte": NOW}}, "due deliveries"),
    Hot("notification", "delivery_claims", {"_id": v(7)}, "an attempt's claim"),
    Hot("notification", "reminder_withdrawals", {"_id": v(7)}, "a reminder's withdrawal marker"),
    Hot("notification", "reminders", {"state": v(3), "due_at": {"$lte": NOW}}, "due reminders"),
    Hot("notification", "reminders", {"appointment_id": v(7)}, "an appointment's reminders"),
    # shared auth database: every staff request whose token id is not in the process's cache
    Hot("auth", REVOKED, {"_id": v(7)}, "is this staff token revoked"),
]


FLAGS = frozenset({"needs_review"})
"""Boolean fields: seeded as booleans, as the services store them."""


def seed(field: str, i: int) -> Any:
    """The queried value ``v7`` on one document, distinct values elsewhere (unique keys stay unique)."""
    if field in FLAGS:
        return i % VARIETY == 7  # a flag: true on a few documents, false on the rest
    value = v(i) if i < VARIETY else f"x{i}"
    return [value, f"y{i}"] if field in ("eligible_hospitals", "school_ids", "hospital_ids") else value


@pytest.fixture(scope="module")
def databases(mongo_client):
    """Each service built once on its own fresh database: the indexes its bootstrap declares."""
    made = {}
    for name, build in BUILDERS.items():
        db = mongo_client[f"hot_{name}_{uuid.uuid4().hex[:8]}"]
        build(Settings(service=name), db=db)
        made[name] = db
    yield made
    for db in made.values():
        mongo_client.drop_database(db.name)


@pytest.mark.parametrize("hot", HOT, ids=lambda h: f"{h.service}.{h.collection}:{','.join(h.filter)}")
def test_the_store_answers_it_from_an_index(databases, hot):
    db = databases[hot.service]
    collection = db[hot.collection]
    if collection.estimated_document_count() < N:
        fields = {
            f for h in HOT if h.service == hot.service and h.collection == hot.collection for f in h.filter
        }
        docs = []
        for i in range(N):
            doc = {f: seed(f, i) for f in fields if "." not in f}
            doc.setdefault("_id", seed("_id", i))
            doc.update({"rev": i % 10, "next_attempt_at": NOW - timedelta(minutes=i), "due_at": NOW})
            docs.append(doc)
        collection.insert_many(docs)
    assert_index_used(db, hot.collection, hot.filter)
