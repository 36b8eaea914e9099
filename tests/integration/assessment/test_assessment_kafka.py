"""The assessment worker on the real parts: referral events in over Kafka, triage in FerretDB,
assessment events out over Kafka, read back with a plain consumer.

Each test names its own service (consumer group, output and dead-letter topics) and its
own input topic, so runs never see each other's records. Tests 1-3 run the worker as a
separate process (tests/integration/assessment/isolated_worker.py: the real
``bootstrap.build`` + ``serve_worker``); the return-plan test runs ``kafka_worker`` in
this process so the clinician API and the worker share one service object.
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from pymongo.database import Database

from services.assessment.bootstrap import build
from services.assessment.catalogue import load_rules
from services.assessment.config import AssessmentConfig
from shared import kafka, topics
from shared.auth import StaffTokens
from shared.contracts.registry import check
from shared.events import Event, event_type, from_kafka, to_kafka
from shared.inbox import Inbox
from shared.runtime import kafka_worker
from tests.conftest import MONGO_URI
from tests.support.processes import ROOT, eventually, python_module, running
from tests.support.secrets_env import TEST_SECRETS, kafka_settings
from tests.unit.assessment.conftest import referral_data

pytestmark = pytest.mark.integration

LOGS = ROOT / ".run" / "test-logs"
RULE_VERSION = load_rules(AssessmentConfig()).version  # table version + configuration hash (HZ-06b)
WAIT_S = 45.0


# --- payloads ---------------------------------------------------------------------------------


def today() -> date:
    """The worker's calendar day (its clock is UTC), so absence weeks come out as the test expects."""
    return datetime.now(UTC).date()


def referral_payload(case_id: str, **changes: Any) -> dict[str, Any]:
    """The unit tests' referral.submitted payload, dated today, checked against the producer's contract."""
    today_ = today()
    dated = {
        "school_id": "school-it-7",
        "referred_on": today_.isoformat(),
        "grade": 8,
        "absence": {"start": (today_ - timedelta(weeks=9)).isoformat(), "days_missed_last_20": 0,
                    "partial_days_last_20": 0},
    }  # fmt: skip
    data = referral_data(case_id, **{**dated, **changes})
    check("referral.submitted", data)  # the producer's own contract check (unknown=RAISE)
    return data


def referral_event(name: str, case_id: str, data: dict[str, Any]) -> Event:
    check(name, data)
    return Event(event_type(name), "/services/referral", case_id, data)


def attendance_event(case_id: str, week_start: date, hours: list[float]) -> Event:
    data = {"case_id": case_id, "week_start": week_start.isoformat(), "hours_by_day": hours}
    return referral_event("attendance.reported", case_id, data)


# --- reading the broker and the store ---------------------------------------------------------


def read_topic(bootstrap: str, topic: str, timeout_s: float = 30.0) -> list[ConsumerRecord]:
    """Every record on ``topic`` up to its end offsets now, in (partition, offset) order."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        partitions = eventually(
            lambda: consumer.partitions_for_topic(topic), timeout=timeout_s, what=f"metadata of {topic}"
        )
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        end = consumer.end_offsets(assigned)
        records: list[ConsumerRecord] = []

        def caught_up() -> bool:
            for batch in consumer.poll(timeout_ms=300).values():
                records.extend(batch)
            return all(consumer.position(tp) >= end[tp] for tp in assigned)

        eventually(caught_up, timeout=timeout_s, interval=0, what=f"reading {topic} to its end")
    finally:
        consumer.close()
    return sorted(records, key=lambda r: (r.partition, r.offset))


def events_for(records: list[ConsumerRecord], case_id: str) -> list[Event]:
    return [from_kafka(r.value, r.headers) for r in records if r.key == case_id.encode()]


def committed(bootstrap: str, group: str, topic: str) -> int:
    """How many records of ``topic`` the consumer group has committed (handled), over all partitions."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="it-assessment-offsets")
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    except KafkaError:  # e.g. the group coordinator is still loading: not yet
        return -1
    finally:
        admin.close()
    return sum(o.offset for tp, o in offsets.items() if tp.topic == topic and o.offset > 0)


def outbox_drained(db: Database) -> bool:
    """Every event written with a case change has been published (its intent forgotten after the broker's ack)."""
    written = db.case_changes.count_documents({"outbox.0": {"$exists": True}})
    return bool(written) and db.outbox_pending.count_documents({}) == 0


# --- the worker -------------------------------------------------------------------------------


@dataclasses.dataclass
class Stack:
    name: str
    source_topic: str
    bootstrap: str
    db: Database
    publisher: kafka.KafkaPublisher
    check_alive: Callable[[], None] = lambda: None

    @property
    def out_topic(self) -> str:
        return topics.events(self.name)

    def send(self, event: Event) -> None:
        self.publisher.send(self.source_topic, *to_kafka(event))

    def wait(self, probe: Callable[[], Any], what: str) -> Any:
        def guarded() -> Any:
            self.check_alive()
            return probe()

        return eventually(guarded, timeout=WAIT_S, interval=0.3, what=what)

    def wait_consumed(self, count: int) -> None:
        self.wait(
            lambda: committed(self.bootstrap, self.name, self.source_topic) == count,
            f"{count} records of {self.source_topic} committed by group {self.name}",
        )

    def settled(self, consumed: int) -> list[ConsumerRecord]:
        """Once everything sent was handled and every event it caused published: the output topic."""
        self.wait_consumed(consumed)
        self.wait(lambda: outbox_drained(self.db), "the outbox to be fully published")
        assert read_topic(self.bootstrap, topics.dead_letters(self.name)) == []
        return read_topic(self.bootstrap, self.out_topic)


def names(unique: str) -> tuple[str, str]:
    return f"assessment-it-{unique}", f"waymark.it-referral-{unique}.events"


def worker_env(name: str, consumes: str, db_name: str, bootstrap: str, **extra: str) -> dict[str, str]:
    """The environment of an isolated assessment worker process (tests.integration.assessment.isolated_worker)."""
    return {
        "WAYMARK_MODE": "kafka",
        **TEST_SECRETS,
        "KAFKA_BOOTSTRAP": bootstrap,
        "MONGO_URI": MONGO_URI,
        "ASSESSMENT_DB": db_name,
        "WAYMARK_RELAY_INTERVAL_S": "0.05",
        "WAYMARK_CONSUMER_MAX_ATTEMPTS": "3",
        "WAYMARK_CONSUMER_BACKOFF_S": "0.05",
        "WAYMARK_IT_SERVICE": name,
        "WAYMARK_IT_CONSUMES": consumes,
        **extra,
    }


@pytest.fixture
def worker_process(kafka_bootstrap, mongo_db, unique) -> Iterator[Stack]:
    """The assessment worker as its own process, with a publisher for its input topic."""
    name, source_topic = names(unique)
    kafka.ensure_topics(kafka_bootstrap, [source_topic, topics.events(name), topics.dead_letters(name)])
    env = worker_env(name, source_topic, mongo_db.name, kafka_bootstrap)
    log = LOGS / f"{name}-worker.log"
    publisher = kafka.KafkaPublisher(kafka_bootstrap, f"it-{unique}")
    with running(python_module("tests.integration.assessment.isolated_worker"), env, log) as proc:
        stack = Stack(name, source_topic, kafka_bootstrap, mongo_db, publisher, lambda: alive(proc, log))
        try:
            yield stack
            alive(proc, log)
        finally:
            publisher.close()


def alive(proc: subprocess.Popen, log: Path) -> None:
    if proc.poll() is not None:
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        raise AssertionError(f"the assessment worker exited with {proc.returncode}:\n{tail}")


# --- 1. referral.submitted -> assessment.triaged ----------------------------------------------


def test_submitted_referral_is_triaged_stored_and_published(worker_process: Stack, mongo_db, unique):
    case_id = f"case-{unique}-1"
    data = referral_payload(
        case_id,
        absence={
            "start": (today() - timedelta(weeks=9)).isoformat(),  # 9 weeks absent: 16
            "days_missed_last_20": 12,
            "partial_days_last_20": 4,  # (12 + 4/2) / 20 = 0.7: 10
        },
        return_attempts=2,  # 8
        exam_year=True,  # 6
        concerns=["bullying"],  # 6, and a school intervention
    )
    submitted = referral_event("referral.submitted", case_id, data)
    worker_process.send(submitted)

    records = worker_process.settled(consumed=1)
    [out] = [r for r in records if r.key == case_id.encode()]
    assert len(records) == 1
    triaged = from_kafka(out.value, out.headers)
    assert triaged.name == "assessment.triaged"
    assert (triaged.source, triaged.subject) == ("/services/assessment", case_id)
    assert triaged.correlation_id == submitted.correlation_id
    check("assessment.triaged", triaged.data)
    expected_factors = [
        {"code": "absence_duration", "points": 16},
        {"code": "days_missed", "points": 10},
        {"code": "failed_return_attempts", "points": 8},
        {"code": "exam_year", "points": 6},
        {"code": "school_environment", "points": 6},
    ]
    assert triaged.data == {
        "case_id": case_id,
        "triage_version": 1,
        "band": "P2",
        "score": 46,
        "target_days": 30,
        "referred_on": data["referred_on"],
        "rule_version": RULE_VERSION,
        "factors": expected_factors,
        "clinic_type": "school_refusal",
        "school_intervention": True,
        "overridden": False,
        "constraints": data["preferences"],
    }

    case = mongo_db.cases.find_one({"_id": case_id})
    [record] = case["triage"]
    assert (record["version"], record["band"], record["score"], record["rule_version"]) == (
        1,
        "P2",
        46,
        RULE_VERSION,
    )
    assert [{"code": f["code"], "points": f["points"]} for f in record["factors"]] == expected_factors
    assert (case["band"], case["score"], case["status"], case["escalated"]) == ("P2", 46, "active", False)
    assert case["referral"]["school_id"] == "school-it-7"
    assert Inbox(mongo_db).handled(submitted.dedupe_key)


# --- 2. a risk referral -> escalated, then triaged P1 -----------------------------------------


def test_risk_referral_is_escalated_before_it_is_triaged(worker_process: Stack, mongo_db, unique):
    case_id = f"case-{unique}-risk"
    before = datetime.now(UTC)
    worker_process.send(
        referral_event("referral.submitted", case_id, referral_payload(case_id, risk_flags=["self_harm"]))
    )
    records = worker_process.settled(consumed=1)
    after = datetime.now(UTC)

    mine = [r for r in records if r.key == case_id.encode()]
    assert len({r.partition for r in mine}) == 1  # keyed by case: one partition, one order
    escalated, triaged = events_for(mine, case_id)
    assert [escalated.name, triaged.name] == ["assessment.escalated", "assessment.triaged"]
    check("assessment.escalated", escalated.data)
    check("assessment.triaged", triaged.data)
    assert escalated.data["reasons"] == ["self_harm"]
    assert escalated.data["contact_within_hours"] == 24
    assert escalated.data["hospitals"] == ["h-east", "h-west"]
    deadline = datetime.fromisoformat(escalated.data["contact_deadline"])
    assert before + timedelta(hours=24) <= deadline + timedelta(seconds=1)
    assert deadline <= after + timedelta(hours=24)
    assert (triaged.data["band"], triaged.data["target_days"], triaged.data["triage_version"]) == ("P1", 7, 1)
    assert {"code": "risk_self_harm", "points": 30} in triaged.data["factors"]

    case = mongo_db.cases.find_one({"_id": case_id})
    assert (case["band"], case["escalated"], case["escalated_reasons"]) == ("P1", True, ["self_harm"])
    [stored] = case["escalations"]
    assert (stored["reasons"], stored["contact_within_hours"]) == (["self_harm"], 24)


# --- 3. the same referral.submitted twice on the wire -> one triage ---------------------------


@pytest.mark.parametrize("inbox_mark_lost", [False, True], ids=["back-to-back", "inbox-mark-lost"])
def test_a_submission_delivered_twice_is_triaged_once(
    worker_process: Stack, mongo_db, unique, inbox_mark_lost
):
    """Twice in a row (the inbox skips it), and again after its inbox mark was lost, as after a
    crash between the effect and the mark (the unique revision-1 insert in FerretDB decides)."""
    case_id = f"case-{unique}-dup"
    submitted = referral_event("referral.submitted", case_id, referral_payload(case_id))
    worker_process.send(submitted)
    if inbox_mark_lost:
        worker_process.wait_consumed(1)
        assert mongo_db.processed_events.delete_one({"_id": submitted.dedupe_key}).deleted_count == 1
    worker_process.send(submitted)  # the same record again: same CloudEvent id

    records = worker_process.settled(consumed=2)
    assert [e.name for e in events_for(records, case_id)] == ["assessment.triaged"]
    assert len(records) == 1
    assert [v["version"] for v in mongo_db.cases.find_one({"_id": case_id})["triage"]] == [1]
    assert mongo_db.case_changes.count_documents({"case_id": case_id}) == 1
    assert Inbox(mongo_db).handled(submitted.dedupe_key)


# --- 4. attendance below the return plan two weeks running -> one relapse ---------------------


def test_two_weeks_below_the_return_plan_raise_one_relapse(kafka_bootstrap, mongo_db, unique):
    name, source_topic = names(unique)
    settings = kafka_settings(name, kafka_bootstrap=kafka_bootstrap, relay_interval_s=0.05)
    service = dataclasses.replace(build(settings, db=mongo_db), consumes=[source_topic])
    kafka.ensure_topics(kafka_bootstrap, [source_topic])
    token = StaffTokens(settings.staff_token_secret).issue("c1", "clinician")
    clinician = {"Authorization": f"Bearer {token}"}
    client = service.app.test_client()
    worker = kafka_worker(service)
    worker.start()
    publisher = kafka.KafkaPublisher(kafka_bootstrap, f"it-{unique}")
    stack = Stack(name, source_topic, kafka_bootstrap, mongo_db, publisher)
    case_id = f"case-{unique}-plan"
    day = today()
    monday = day - timedelta(days=day.weekday())
    w1, w2, w3 = (monday - timedelta(weeks=2), monday - timedelta(weeks=1), monday)
    try:
        stack.send(referral_event("referral.submitted", case_id, referral_payload(case_id)))
        stack.wait(lambda: mongo_db.cases.find_one({"_id": case_id}), "the case to be triaged")
        weeks = [{"week_start": w.isoformat(), "target_hours_per_day": 3.0} for w in (w1, w2, w3)]
        response = client.post(f"/v1/cases/{case_id}/return-plan", json={"weeks": weeks}, headers=clinician)
        assert response.status_code == 201, response.json

        stack.send(attendance_event(case_id, w1, [2, 1, 1, 0, 1]))  # mean 1.0 < 3.0
        stack.wait_consumed(2)
        assert mongo_db.cases.find_one({"_id": case_id})["relapses"] == []  # one week is not a relapse
        second = attendance_event(case_id, w2, [1, 1, 1, 1, 1.5])  # mean 1.1 < 3.0
        stack.send(second)
        stack.send(second)  # redelivered on the wire
        records = stack.settled(consumed=4)
        view = client.get(f"/v1/cases/{case_id}/return-plan", headers=clinician).json
    finally:
        publisher.close()
        worker.stop()

    published = events_for(records, case_id)
    assert [e.name for e in published] == [
        "assessment.triaged",
        "returnplan.updated",
        "followup.relapse_detected",
    ]
    relapse = published[-1]
    check("followup.relapse_detected", relapse.data)
    assert relapse.data == {"case_id": case_id, "weeks_below": [w1.isoformat(), w2.isoformat()]}
    assert published[1].data["weeks"] == weeks

    case = mongo_db.cases.find_one({"_id": case_id})
    assert [r["weeks_below"] for r in case["relapses"]] == [[w1.isoformat(), w2.isoformat()]]
    assert sorted(case["attendance"]) == [w1.isoformat(), w2.isoformat()]
    assert [(w["week_start"], w["status"]) for w in view["progress"]] == [
        (w1.isoformat(), "below_target"),
        (w2.isoformat(), "below_target"),
        (w3.isoformat(), "no_report"),
    ]
