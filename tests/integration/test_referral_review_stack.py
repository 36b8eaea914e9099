"""Referral review across referral, assessment and scheduling on the real parts (Kafka + FerretDB).

Three services in this process, each with its own FerretDB database, consumer group and
output topic (unique names), wired to each other's topics as on the stack. A hospital
configured for review (``ASSESSMENT_REVIEW_HOSPITALS``) holds the referral; the school is
asked for more information, amends through its PATCH (the resubmission), a clinician of the
hospital accepts, and only then is the case triaged and waitlisted. A duplicate
``referral.submitted`` on the wire before acceptance triages nothing. A risk-flagged referral
under review is escalated at once and is a review task, and still reaches no waitlist.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from services.assessment.bootstrap import build as build_assessment
from services.referral.bootstrap import build as build_referral
from services.referral.keys import create_school_key
from services.scheduling.bootstrap import build as build_scheduling
from services.scheduling.config import Config
from services.scheduling.seed import seed_region
from shared import kafka
from shared.auth import StaffTokens
from shared.events import from_kafka, to_kafka
from shared.runtime import Worker, kafka_worker
from tests.integration.assessment.test_assessment_kafka import read_topic
from tests.support.processes import eventually
from tests.support.secrets_env import TEST_SECRETS, kafka_settings
from tests.unit.referral.conftest import Clock, referral

pytestmark = pytest.mark.integration

HOSPITAL = "bch"  # the referral's first preferred hospital: it reviews
WAIT_S = 60.0
NO_RISK = {"self_harm": False, "suicidal_talk": False, "not_eating": False}


@dataclass
class Stack:
    referral: Any
    assessment: Any
    scheduling: Any
    dbs: dict[str, Database]
    school: dict[str, str]
    workers: list[Worker]

    def clinician(self, who: str, *hospitals: str) -> dict[str, str]:
        token = StaffTokens(TEST_SECRETS["WAYMARK_STAFF_TOKEN_SECRET"]).issue(who, "clinician", hospitals)
        return {"Authorization": f"Bearer {token}"}

    def school_case(self, case_id: str) -> dict[str, Any]:
        return self.referral.app.test_client().get(f"/v1/referrals/{case_id}", headers=self.school).json

    def assessment_case(self, case_id: str) -> dict[str, Any] | None:
        return self.dbs["assessment"].cases.find_one({"_id": case_id})

    def decide(self, case_id: str, body: dict[str, Any], *hospitals: str) -> Any:
        client = self.assessment.app.test_client()
        headers = self.clinician("dr-review", *(hospitals or (HOSPITAL,)))
        return client.post(f"/v1/cases/{case_id}/review", json=body, headers=headers)


@pytest.fixture
def stack(kafka_bootstrap: str, mongo_client: MongoClient, unique: str) -> Iterator[Stack]:
    names = {s: f"{s}-review-{unique}" for s in ("referral", "assessment", "scheduling")}
    dbs = {s: mongo_client[f"it_{s[:3]}_{unique}"] for s in names}
    roster = {
        HOSPITAL: {"clinician": "dr-oncall", "second_line": "dr-second"},
        "default": {"clinician": "dr-x"},
    }
    referral_svc = build_referral(
        kafka_settings(names["referral"], kafka_bootstrap=kafka_bootstrap, relay_interval_s=0.05),
        db=dbs["referral"],
        clock=Clock(),
    )
    assessment_extra = {"ASSESSMENT_REVIEW_HOSPITALS": HOSPITAL, "ASSESSMENT_ONCALL": json.dumps(roster)}
    assessment_svc = build_assessment(
        kafka_settings(
            names["assessment"],
            kafka_bootstrap=kafka_bootstrap,
            relay_interval_s=0.05,
            extra=assessment_extra,
        ),
        db=dbs["assessment"],
    )
    config = Config(offer_secret="integration-offer-secret")
    scheduling_svc = build_scheduling(
        kafka_settings(names["scheduling"], kafka_bootstrap=kafka_bootstrap, relay_interval_s=0.05),
        db=dbs["scheduling"],
        config=config,
        run_duties=False,
    )
    seed_region(dbs["scheduling"], scheduling_svc.app.extensions["scheduling"].clock, config=config)
    r_topic, a_topic, s_topic = referral_svc.topic, assessment_svc.topic, scheduling_svc.topic
    referral_svc = dataclasses.replace(referral_svc, consumes=[a_topic, s_topic])
    assessment_svc = dataclasses.replace(assessment_svc, consumes=[r_topic, s_topic, a_topic])
    scheduling_svc = dataclasses.replace(scheduling_svc, consumes=[a_topic, r_topic])
    school = {"Authorization": f"Bearer {create_school_key(dbs['referral'], 'school-a', 'School A').key}"}
    workers = [kafka_worker(s) for s in (referral_svc, assessment_svc, scheduling_svc)]
    for worker in workers:
        worker.start()
    try:
        yield Stack(referral_svc, assessment_svc, scheduling_svc, dbs, school, workers)
    finally:
        for worker in workers:
            worker.stop()
        for db in dbs.values():
            mongo_client.drop_database(db.name)


def submit(stack: Stack, **changes: Any) -> str:
    answer = stack.referral.app.test_client().post(
        "/v1/referrals", json=referral(**changes), headers=stack.school
    )
    assert answer.status_code == 201, answer.json
    return answer.json["case_id"]


def status_is(stack: Stack, case_id: str, *statuses: str) -> bool:
    """Referral's stored status (polled from its store: polling the API would meet its rate limit)."""
    return stack.dbs["referral"].cases.find_one({"_id": case_id}, {"status": 1})["status"] in statuses


def test_return_for_information_amend_accept_then_triaged_and_waitlisted(stack: Stack, kafka_bootstrap: str):
    case_id = submit(stack, risk_indicators=NO_RISK)
    eventually(lambda: status_is(stack, case_id, "awaiting_review"), timeout=WAIT_S, what="awaiting review")
    assert stack.assessment_case(case_id)["triage"] == []
    eventually(
        lambda: stack.dbs["assessment"].tasks.find_one({"_id": f"rev-{case_id}-1"}) is not None,
        timeout=WAIT_S,
        what="the review task",
    )
    assert stack.dbs["assessment"].tasks.find_one({"_id": f"rev-{case_id}-1"})["owner"] == "dr-oncall"

    # A clinician of another hospital cannot decide; the reviewing hospital's returns it.
    assert stack.decide(case_id, {"decision": "accept"}, "hdm").status_code == 404
    asked = stack.decide(case_id, {"decision": "return", "information_needed": ["attendance_record"]})
    assert asked.status_code == 200, asked.json
    eventually(lambda: status_is(stack, case_id, "information_requested"), timeout=WAIT_S, what="returned")
    shown = stack.school_case(case_id)["timeline"]
    assert {"information_needed": ["attendance_record"]} in [e["detail"] for e in shown]

    # A duplicate referral.submitted on the wire (a redelivery), ahead of the amendment on the
    # case's partition: once the amendment's round is seen, the duplicate was handled too.
    records = read_topic(kafka_bootstrap, stack.referral.topic)
    (submitted,) = [
        e
        for e in (from_kafka(r.value, r.headers) for r in records)
        if e.subject == case_id and e.name == "referral.submitted"
    ]
    publisher = kafka.KafkaPublisher(kafka_bootstrap, "it-review-redelivery")
    try:
        publisher.send(stack.referral.topic, *to_kafka(submitted))
    finally:
        publisher.close()

    # The school answers through the existing PATCH: the resubmission, a second review round.
    patch = stack.referral.app.test_client().patch(
        f"/v1/referrals/{case_id}",
        json={"absence": {"start": "2025-02-10", "days_missed_last_20": 14, "partial_days_last_20": 2}},
        headers=stack.school,
    )
    assert patch.status_code == 200, patch.json
    eventually(
        lambda: (stack.assessment_case(case_id) or {}).get("review", {}).get("round") == 2,
        timeout=WAIT_S,
        what="the resubmission's round",
    )
    eventually(lambda: status_is(stack, case_id, "awaiting_review"), timeout=WAIT_S, what="back under review")

    assert stack.assessment_case(case_id)["triage"] == []  # the duplicate (before the amendment) did nothing
    assert stack.dbs["scheduling"].waitlist.find_one({"_id": case_id}) is None

    accepted = stack.decide(case_id, {"decision": "accept"})
    assert accepted.status_code == 200, accepted.json
    eventually(
        lambda: stack.dbs["scheduling"].waitlist.find_one({"_id": case_id}) is not None,
        timeout=WAIT_S,
        what="the waitlist entry after acceptance",
    )
    eventually(
        lambda: status_is(stack, case_id, "waitlisted", "offered", "booked"),
        timeout=WAIT_S,
        what="referral following the pathway",
    )
    out = [from_kafka(r.value, r.headers) for r in read_topic(kafka_bootstrap, stack.assessment.topic)]
    triaged = [e for e in out if e.subject == case_id and e.name == "assessment.triaged"]
    assert len(triaged) == 1  # one triage: at acceptance, none before
    original = stack.dbs["referral"].cases.find_one({"_id": case_id})["referred_on"]
    assert triaged[0].data["referred_on"] == original  # the case kept its original referral date
    decided = [
        e.data["outcome"] for e in out if e.subject == case_id and e.name == "assessment.review_decided"
    ]
    assert decided == ["returned", "accepted"]
    task = stack.dbs["assessment"].tasks.find_one({"_id": f"rev-{case_id}-2"})
    assert task is not None and task["state"] == "completed"


def test_a_risk_flagged_referral_under_review_is_escalated_and_never_waitlisted(stack: Stack):
    case_id = submit(stack, risk_indicators={**NO_RISK, "self_harm": True})
    eventually(
        lambda: stack.dbs["assessment"].tasks.count_documents({"case_id": case_id}) == 2,
        timeout=WAIT_S,
        what="an escalation task and a review task",
    )
    kinds = sorted(t["kind"] for t in stack.dbs["assessment"].tasks.find({"case_id": case_id}))
    assert kinds == ["escalation_contact", "referral_review"]
    review = stack.dbs["assessment"].tasks.find_one({"_id": f"rev-{case_id}-1"})
    escalation = stack.dbs["assessment"].tasks.find_one({"kind": "escalation_contact", "case_id": case_id})
    assert review["owner"] == escalation["owner"] == "dr-oncall"
    assert review["due_at"] <= escalation["due_at"]  # due no later than the risk's contact deadline
    assert stack.assessment_case(case_id)["status"] == "awaiting_review"
    eventually(lambda: status_is(stack, case_id, "awaiting_review"), timeout=WAIT_S, what="awaiting review")
    # Scheduling holds the escalation as a placeholder that only a triage completes: no offer.
    placeholder = eventually(
        lambda: stack.dbs["scheduling"].waitlist.find_one({"_id": case_id}),
        timeout=WAIT_S,
        what="scheduling's escalation placeholder",
    )
    assert placeholder["state"] == "awaiting_triage"
    assert stack.dbs["scheduling"].offers.find_one({"case_id": case_id}) is None
    # Redirected to emergency services: the case closes, the placeholder leaves the list, and
    # the escalation task stays open for its owner (the risk is still acted on).
    body = {"decision": "redirect", "redirect_to": "emergency_services", "note": "advised to call 120"}
    assert stack.decide(case_id, body).status_code == 200
    eventually(lambda: status_is(stack, case_id, "redirected"), timeout=WAIT_S, what="redirected")
    eventually(
        lambda: stack.dbs["scheduling"].waitlist.find_one({"_id": case_id})["state"] == "removed",
        timeout=WAIT_S,
        what="the placeholder removed",
    )
    open_escalation = stack.dbs["assessment"].tasks.find_one(
        {"kind": "escalation_contact", "case_id": case_id}
    )
    assert open_escalation["state"] == "requested"
    assert stack.dbs["assessment"].tasks.find_one({"_id": f"rev-{case_id}-1"})["state"] == "completed"
