"""Concurrent school commands on one case, on the real store: exactly one winner per version.

FerretDB 1.x applies an update as a read-modify-write of the whole document, so a
conditional ``update_one`` can report several winners (docs/adr/0003). These tests release
eight amend / attendance / withdraw calls on one case together (tests.support.concurrency)
and check what a school and the hospitals would see: every call that answered "done"
holds its own version of the case, its change is in the case, and the events published
are exactly the events the case's changes hold — nothing lost, nothing published twice or for a
write that was overwritten.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from services.referral.cases import CaseClosed, Contended, NotReportable, Referrals
from services.referral.crypto import FieldCipher
from services.referral.handlers import TimelineHandler
from services.referral.repository import INDEXES, Cases
from shared import store, topics
from shared.events import Event, event_type, from_kafka
from shared.outbox import Outbox
from shared.secret_keys import DEV_DATA_KEY, DEV_INDEX_KEY
from tests.support.concurrency import race
from tests.unit.referral.conftest import referral

pytestmark = pytest.mark.integration

SCHOOL = "school-a"
WRITERS = 8
ROUNDS = 3
LOST = (Contended, CaseClosed, NotReportable)
"""What a call that did not change the case raises: the API answers 409/422 and the school retries."""


class Recorder:
    """A publisher that keeps what was published (the bus the hospitals would read)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Any) -> None:
        self.send_many(topic, [(key, value, headers)])

    def send_many(self, topic: str, records: Sequence[tuple[bytes | None, bytes | None, Any]]) -> None:
        with self._lock:
            self.events.extend(from_kafka(value, headers) for _key, value, headers in records)

    def close(self) -> None:
        pass


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def referral_store(mongo_db) -> tuple[Referrals, TimelineHandler, Recorder]:
    store.ensure_indexes(mongo_db, INDEXES)
    outbox = Outbox(mongo_db, "referral", topics.events("referral"), inline=True)
    recorder = Recorder()
    outbox.attach(recorder)
    cases = Cases(mongo_db, outbox)
    return (
        Referrals(cases, FieldCipher([DEV_DATA_KEY], DEV_INDEX_KEY), now),
        TimelineHandler(cases, now),
        recorder,
    )


def open_case(referrals: Referrals, handler: TimelineHandler, n: int, *, in_follow_up: bool) -> str:
    student = {**referral()["student"], "name": f"Child {n} {datetime.now(UTC).timestamp()}"}
    case_id = referrals.submit(SCHOOL, referral(student=student)).case_id
    if in_follow_up:  # attendance is reported during the return plan
        handler(
            Event(event_type("returnplan.updated"), "/services/assessment", case_id, {"case_id": case_id})
        )
    return case_id


def attempt(call: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    try:
        return call()
    except LOST:
        return None


def check(
    db, case_id: str, before: dict[str, Any], wins: list[dict[str, Any]], published: list[Event]
) -> dict:
    """One winner per version, every winner's change kept, published == held. The case as stored."""
    doc = db.cases.find_one({"_id": case_id})
    versions = sorted(w["version"] for w in wins)
    assert versions == list(range(before["version"] + 1, before["version"] + 1 + len(wins))), (
        f"{len(wins)} calls answered 'done' holding versions {versions}: a version with several winners"
    )
    assert doc["version"] == before["version"] + len(wins), (
        f"{len(wins)} winners but the case moved {doc['version'] - before['version']} versions: writes lost"
    )
    chain = [before, *sorted(wins, key=lambda w: w["version"])]
    for earlier, later in itertools.pairwise(chain):  # each winner built on the one before
        assert later["timeline"][: len(earlier["timeline"])] == earlier["timeline"], "a timeline entry lost"
        assert set(earlier["attendance"]) <= set(later["attendance"]), "a reported week lost"
    for name in ("version", "status", "referral", "timeline", "attendance", "child_slot"):
        assert doc[name] == chain[-1][name], f"the case's {name} is not what the last winner answered"
    held = {e["id"] for claim in db.case_versions.find({"case_id": case_id}) for e in claim.get("outbox", [])}
    held -= {e["id"] for claim in before["claims"] for e in claim.get("outbox", [])}
    sent = [e.id for e in published if e.subject == case_id]
    assert len(sent) == len(set(sent)), "an event was published twice"
    assert set(sent) == held, (
        f"published {len(sent)} events, the case holds {len(held)}: "
        f"{len(set(sent) - held)} published for overwritten writes"
    )
    assert db.outbox_pending.count_documents({"doc_id": case_id}) == 0, "an intent left unpublished"
    return doc


def run_round(db, recorder: Recorder, case_id: str, calls: list[Callable[[], dict]]) -> tuple[list, dict]:
    before = {
        **db.cases.find_one({"_id": case_id}),
        "claims": list(db.case_versions.find({"case_id": case_id})),
    }
    mark = len(recorder.events)
    wins = race(len(calls), lambda k: attempt(calls[k]), Contended)
    doc = check(db, case_id, before, wins, recorder.events[mark:])
    return wins, doc


def test_concurrent_amends_of_one_case(mongo_db, referral_store):
    referrals, handler, recorder = referral_store
    for r in range(ROUNDS):
        case_id = open_case(referrals, handler, r, in_follow_up=False)
        calls = [
            lambda k=k, case_id=case_id: referrals.amend(case_id, SCHOOL, {"note": f"note {k}"})
            for k in range(WRITERS)
        ]
        wins, doc = run_round(mongo_db, recorder, case_id, calls)
        assert wins, "eight amends and not one won"
        last = max(wins, key=lambda w: w["version"])
        assert (
            referrals.cipher.unseal(doc["referral"])["note"]
            == referrals.cipher.unseal(last["referral"])["note"]
        )


def test_concurrent_attendance_reports_for_one_case(mongo_db, referral_store):
    referrals, handler, recorder = referral_store
    weeks = [
        f"2025-03-{3 + 7 * (k % 4):02d}" if k < 4 else f"2025-04-{7 * (k - 4) + 1:02d}" for k in range(8)
    ]
    for r in range(ROUNDS):
        case_id = open_case(referrals, handler, r, in_follow_up=True)
        calls = [
            lambda k=k, case_id=case_id: referrals.report_attendance(
                case_id, SCHOOL, weeks[k], [1.0, 2.0, 3.0, 4.0, float(k)]
            )
            for k in range(WRITERS)
        ]
        wins, doc = run_round(mongo_db, recorder, case_id, calls)
        reported = {week for w in wins for week in w["attendance"]}
        assert set(doc["attendance"]) == reported, "a reported week is missing from the case"


def test_concurrent_amend_attendance_and_withdraw_of_one_case(mongo_db, referral_store):
    referrals, handler, recorder = referral_store
    for r in range(ROUNDS):
        case_id = open_case(referrals, handler, r, in_follow_up=True)

        def call(k: int, case_id: str = case_id) -> Callable[[], dict]:
            if k % 3 == 0:
                return lambda: referrals.amend(case_id, SCHOOL, {"note": f"note {k}"})
            if k % 3 == 1:
                return lambda: referrals.report_attendance(case_id, SCHOOL, f"2025-03-{3 + k:02d}", [1.0] * 5)
            return lambda: referrals.withdraw(case_id, SCHOOL, "other", f"withdrawn by call {k}")

        wins, doc = run_round(mongo_db, recorder, case_id, [call(k) for k in range(WRITERS)])
        withdrawals = [w for w in wins if w["timeline"][-1]["kind"] == "withdrawn"]
        assert len(withdrawals) <= 1, f"{len(withdrawals)} withdrawals won"
        if withdrawals:
            assert max(w["version"] for w in wins) == withdrawals[0]["version"], "a change after withdrawal"
            assert doc["status"] == "withdrawn"
            assert doc["child_slot"] == f"case:{case_id}"


def test_one_event_handled_by_eight_consumers_at_once_is_applied_once(mongo_db, referral_store):
    """A redelivery racing the first delivery (a rebalance): the event's key is checked on the
    case as read and recorded in the claimed version, so one handler applies it."""
    referrals, handler, recorder = referral_store
    for r in range(ROUNDS):
        case_id = open_case(referrals, handler, r, in_follow_up=False)
        before = mongo_db.cases.find_one({"_id": case_id})
        mark = len(recorder.events)
        triaged = Event(
            event_type("assessment.triaged"), "/services/assessment", case_id, {"case_id": case_id}
        )
        race(WRITERS, lambda _k, e=triaged: handler(e), Contended)
        doc = mongo_db.cases.find_one({"_id": case_id})
        assert doc["version"] == before["version"] + 1
        assert [e["kind"] for e in doc["timeline"]] == ["submitted", "triaged"]
        assert doc["applied_events"].count(triaged.dedupe_key) == 1
        sent = [e for e in recorder.events[mark:] if e.subject == case_id]
        assert [e.data["status"] for e in sent] == ["triaged"], "status_changed published once"
