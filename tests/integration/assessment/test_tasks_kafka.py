"""HZ-02 / HZ-10 on the real parts: two assessment workers (separate processes) on Kafka + FerretDB.

A risk referral goes in over Kafka; the workers consume their own ``assessment.escalated``
from the bus, make ONE task owned by the on-call clinician, and — with a short drill
deadline — raise the re-alert and the second-line breach alert exactly once each, though
both workers sweep (unique-key claims; FerretDB's updates are non-atomic). A no-show of
the escalated child becomes one same-day safeguarding task.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from services.assessment.domain import tasks as rules
from shared import kafka, topics
from shared.contracts.registry import check, read
from shared.events import Event, event_type
from tests.integration.assessment.test_assessment_kafka import (
    LOGS,
    Stack,
    alive,
    events_for,
    read_topic,
    referral_event,
    referral_payload,
    worker_env,
)
from tests.support.processes import python_module, running

pytestmark = pytest.mark.integration

ROSTER = {"h-east": {"clinician": "dr-east", "second_line": "dr-east-2"}}
DEADLINE_S = 6


@pytest.fixture
def two_workers(kafka_bootstrap, mongo_db, unique) -> Iterator[Stack]:
    name, source = f"assessment-it-{unique}", f"waymark.it-sources-{unique}.events"
    kafka.ensure_topics(kafka_bootstrap, [source, topics.events(name), topics.dead_letters(name)])
    env = worker_env(
        name,
        # The referral/scheduling stand-in topic, and the workers' own output: their escalations.
        f"{source},{topics.events(name)}",
        mongo_db.name,
        kafka_bootstrap,
        WAYMARK_CONSUMER_MAX_ATTEMPTS="5",
        WAYMARK_CONSUMER_BACKOFF_S="0.2",
        ASSESSMENT_ONCALL=json.dumps(ROSTER),
        ASSESSMENT_TASK_DEADLINE_S=str(DEADLINE_S),
        ASSESSMENT_TASK_TICK_S="0.2",
    )
    publisher = kafka.KafkaPublisher(kafka_bootstrap, f"it-{unique}")
    module = python_module("tests.integration.assessment.isolated_worker")
    first, second = LOGS / f"{name}-worker-1.log", LOGS / f"{name}-worker-2.log"
    with running(module, env, first) as one, running(module, env, second) as two:

        def both_alive() -> None:
            alive(one, first)
            alive(two, second)

        try:
            yield Stack(name, source, kafka_bootstrap, mongo_db, publisher, both_alive)
            both_alive()
        finally:
            publisher.close()


def alerts(stack: Stack, case_id: str) -> list[dict]:
    found = events_for(read_topic(stack.bootstrap, stack.out_topic), case_id)
    return [read("assessment.task_alert", e.data) for e in found if e.name == "assessment.task_alert"]


def test_one_owner_one_re_alert_one_breach_alert_under_two_workers(two_workers: Stack, mongo_db, unique):
    case_id = f"case-{unique}-risk"
    data = referral_payload(case_id, risk_flags=["self_harm"])  # prefers h-east, then h-west
    two_workers.send(referral_event("referral.submitted", case_id, data))

    task = two_workers.wait(lambda: mongo_db.tasks.find_one({"case_id": case_id}), "the escalation's task")
    assert (task["owner"], task["hospital_id"], task["state"]) == ("dr-east", "h-east", rules.REQUESTED)
    assert task["due_at"] - task["created_at"] == timedelta(seconds=DEADLINE_S)

    def claimed() -> bool:
        kinds = {c["kind"] for c in mongo_db.task_claims.find({"task_id": task["_id"]})}
        return kinds == {rules.REALERT, rules.BREACH}

    two_workers.wait(claimed, "the re-alert and the breach claims")
    two_workers.wait(lambda: mongo_db.outbox_pending.count_documents({}) == 0, "every alert published")
    found = two_workers.wait(lambda: (a := alerts(two_workers, case_id)) and len(a) >= 3 and a, "3 alerts")
    assert sorted((a["stage"], a["recipient"], a["tier"]) for a in found) == [
        ("breach", "dr-east-2", "second_line"),
        ("realert", "dr-east", "owner"),
        ("requested", "dr-east", "owner"),
    ]
    assert mongo_db.tasks.count_documents({"case_id": case_id}) == 1
    assert read_topic(two_workers.bootstrap, topics.dead_letters(two_workers.name)) == []


def test_an_escalated_childs_no_show_is_one_safeguarding_task(two_workers: Stack, mongo_db, unique):
    case_id = f"case-{unique}-noshow"
    data = referral_payload(case_id, risk_flags=["self_harm"])
    two_workers.send(referral_event("referral.submitted", case_id, data))
    two_workers.wait(lambda: mongo_db.tasks.find_one({"case_id": case_id}), "the escalation's task")
    no_show = {
        "case_id": case_id,
        "appointment_id": f"appt-{unique}",
        "hospital_id": "h-east",
        "start": "2026-12-01T01:00:00+00:00",
        "end": "2026-12-01T02:00:00+00:00",
        "kind": "intake",
        "no_show_count": 1,
    }
    check("appointment.no_show", no_show)
    event = Event(event_type("appointment.no_show"), "/services/scheduling", case_id, no_show)
    for _ in range(2):  # a redelivery
        two_workers.send(event)
    query = {"case_id": case_id, "kind": rules.SAFEGUARDING_CONTACT}
    safeguarding = two_workers.wait(lambda: mongo_db.tasks.find_one(query), "the safeguarding task")
    assert safeguarding["owner"] == "dr-east"
    assert safeguarding["action"] == "safeguarding_contact_today"
    two_workers.wait(lambda: mongo_db.outbox_pending.count_documents({}) == 0, "every alert published")
    assert mongo_db.tasks.count_documents(query) == 1
