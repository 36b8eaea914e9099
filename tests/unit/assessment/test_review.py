"""Referral review before acceptance (issue 12 item 3; HZ-14): the accept gate, the decisions, the task."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from services.assessment.domain import review as rules
from services.assessment.domain import tasks as task_rules
from shared.auth import StaffTokens
from shared.contracts import assessment as contract
from shared.events import Event, short_name

from .conftest import NOW, SECRET, amended, event, outbox, submitted

ROSTER = {"h-east": {"clinician": "dr-east", "second_line": "dr-east-2"}}


@pytest.fixture
def settings(settings):
    extra = {
        "ASSESSMENT_ONCALL": json.dumps(ROSTER),
        "ASSESSMENT_REVIEW_HOSPITALS": "h-east",
        "ASSESSMENT_REVIEW_HOURS": "48",
    }
    return settings.but(extra=extra)


@pytest.fixture
def tasks(service):
    """The service's Tasks (our own review_requested's handler is its bound method)."""
    return service.handlers["assessment.review_requested"].__self__


def staff(who: str, *hospitals: str) -> dict[str, str]:
    token = StaffTokens(SECRET).issue(who, "clinician", hospitals=hospitals or ("*",))
    return {"Authorization": f"Bearer {token}"}


def names(db) -> list[str]:
    return [short_name(e["type"]) for e in outbox(db)]


def consume_own(handle, db, name: str) -> None:
    """Assessment consuming its own event (as from the bus): the latest of ``name``."""
    handle(Event.from_dict(outbox(db, name)[-1]))


def decide(client, body: dict[str, Any], who: str = "dr-east", hospitals: tuple[str, ...] = ("h-east",)):
    return client.post("/v1/cases/case-1/review", json=body, headers=staff(who, *hospitals))


class TestRules:
    def test_review_is_per_hospital_and_auto_accept_is_the_default(self):
        assert not rules.reviews(frozenset(), "h-east")
        assert rules.reviews({"h-east"}, "h-east")
        assert not rules.reviews({"h-east"}, "h-west")
        assert rules.reviews({"default"}, None)
        assert not rules.reviews({"h-east"}, None)
        assert rules.reviews({"*"}, "h-anything")

    def test_each_decision_names_what_it_needs(self):
        assert rules.field_error("accept", None, [], None) is None
        assert rules.field_error("reject", None, [], None) == "reason"
        assert rules.field_error("reject", "criteria_not_met", [], None) is None
        assert rules.field_error("return", None, [], None) == "information_needed"
        assert rules.field_error("return", None, ["bogus"], None) == "information_needed"
        assert rules.field_error("redirect", None, [], "emergency_services") is None
        assert rules.field_error("redirect", None, [], "elsewhere") == "redirect_to"

    def test_only_a_case_awaiting_review_is_decided(self):
        assert rules.state_error(rules.AWAITING_REVIEW) is None
        assert rules.state_error(rules.RETURNED) is not None  # waits for the school
        assert rules.state_error("active") is not None

    def test_the_published_codes_are_the_domains(self):
        assert contract.REVIEW_REJECT_REASONS == rules.REJECT_REASONS
        assert contract.REVIEW_INFORMATION_NEEDED == rules.INFORMATION_NEEDED
        assert contract.REVIEW_REDIRECT_TO == rules.REDIRECT_TO


class TestAcceptGate:
    def test_a_hospital_without_review_triages_at_once(self, handle, db):
        handle(submitted(preferences={"hospitals": ["h-west"]}))
        assert "assessment.triaged" in names(db)
        assert db.cases.find_one()["status"] == "active"

    def test_a_reviewing_hospital_holds_the_referral_untriaged(self, handle, db, client, clinician):
        handle(submitted())
        case = db.cases.find_one()
        assert case["status"] == rules.AWAITING_REVIEW
        assert case["triage"] == []
        assert names(db) == ["assessment.review_requested"]
        (requested,) = outbox(db, "assessment.review_requested")
        assert requested["data"]["due_at"].startswith((NOW + timedelta(hours=48)).isoformat()[:19])
        queue = client.get("/v1/triage/queue", headers=clinician).get_json()
        assert queue["total"] == 0  # not in the triage queue

    def test_a_redelivered_referral_is_still_not_triaged(self, handle, db):
        handle(submitted())
        handle(submitted())
        assert "assessment.triaged" not in names(db)
        assert len(outbox(db, "assessment.review_requested")) == 1

    def test_an_amendment_under_review_never_triages(self, handle, db):
        handle(submitted())
        handle(amended(concerns=["anxiety"]))
        handle(amended(concerns=["anxiety"]))  # and another
        assert "assessment.triaged" not in names(db)
        assert db.cases.find_one()["referral"]["concerns"] == ["anxiety"]
        assert db.cases.find_one()["status"] == rules.AWAITING_REVIEW

    def test_no_override_or_return_plan_before_acceptance(self, handle, client, clinician):
        handle(submitted())
        body = {"band": "P1", "reason": "clinical judgement of risk"}
        assert (
            client.post("/v1/cases/case-1/triage/override", json=body, headers=clinician).status_code == 409
        )
        plan = {"weeks": [{"week_start": "2025-03-17", "target_hours_per_day": 1}]}
        assert client.post("/v1/cases/case-1/return-plan", json=plan, headers=clinician).status_code == 409


class TestDecisions:
    def test_accept_triages_with_the_original_referral_date(self, handle, db, client):
        handle(submitted())
        answer = decide(client, {"decision": "accept"})
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json()["outcome"] == "accepted"
        assert names(db)[-2:] == ["assessment.review_decided", "assessment.triaged"]
        (triaged,) = outbox(db, "assessment.triaged")
        assert triaged["data"]["referred_on"] == "2025-03-10"
        case = db.cases.find_one()
        assert case["status"] == "active"
        assert case["triage"][0]["by"] == "dr-east"

    def test_return_amend_resubmits_then_accept(self, handle, db, client, clock):
        handle(submitted())
        answer = decide(client, {"decision": "return", "information_needed": ["attendance_record"]})
        assert answer.status_code == 200
        assert db.cases.find_one()["status"] == rules.RETURNED
        again = decide(client, {"decision": "accept"})
        assert again.status_code == 409  # waits for the school's resubmission
        clock.now = NOW + timedelta(days=5)
        handle(amended(absence={"start": "2025-02-10", "days_missed_last_20": 12, "partial_days_last_20": 0}))
        case = db.cases.find_one()
        assert (case["status"], case["review"]["round"]) == (rules.AWAITING_REVIEW, 2)
        assert decide(client, {"decision": "accept"}).status_code == 200
        (triaged,) = outbox(db, "assessment.triaged")
        assert triaged["data"]["referred_on"] == "2025-03-10"  # the case keeps its place
        decided = [e["data"] for e in outbox(db, "assessment.review_decided")]
        assert [(d["round"], d["outcome"]) for d in decided] == [(1, "returned"), (2, "accepted")]
        assert decided[0]["information_needed"] == ["attendance_record"]

    def test_reject_needs_a_reason_from_the_list_and_closes(self, handle, db, client):
        handle(submitted())
        missing = decide(client, {"decision": "reject"})
        assert missing.status_code == 422
        assert "reason" in missing.get_json()["error"]["fields"]
        assert decide(client, {"decision": "reject", "reason": "outside_catchment"}).status_code == 200
        assert db.cases.find_one()["status"] == rules.REJECTED
        handle(amended(concerns=["anxiety"]))  # nothing reopens it
        assert "assessment.triaged" not in names(db)

    def test_redirect_keeps_the_note_out_of_the_event(self, handle, db, client):
        handle(submitted())
        body = {"decision": "redirect", "redirect_to": "emergency_services", "note": "call 120 now"}
        assert decide(client, body).status_code == 200
        (decided,) = outbox(db, "assessment.review_decided")
        assert decided["data"]["redirect_to"] == "emergency_services"
        assert "note" not in decided["data"]
        assert db.cases.find_one()["review_decisions"][0]["note"] == "call 120 now"

    def test_only_the_reviewing_hospitals_clinician_decides(self, handle, client):
        handle(submitted())
        assert decide(client, {"decision": "accept"}, "dr-west", ("h-west",)).status_code == 404
        assert decide(client, {"decision": "accept"}, "dr-east", ("h-east",)).status_code == 200

    def test_a_scheduler_cannot_decide(self, handle, client):
        handle(submitted())
        token = StaffTokens(SECRET).issue("sch-1", "scheduler", hospitals=("h-east",))
        answer = client.post(
            "/v1/cases/case-1/review",
            json={"decision": "accept"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 403


class TestHz14NeverUnseen:
    def test_a_risk_flag_escalates_while_awaiting_review(self, handle, db):
        handle(submitted(risk_flags=["self_harm"]))
        assert names(db) == ["assessment.escalated", "assessment.review_requested"]
        (requested,) = outbox(db, "assessment.review_requested")
        assert requested["data"]["risk_flagged"] is True
        # due by the escalation's contact deadline (self-harm: 24 h), not the 48 h review deadline
        assert requested["data"]["due_at"].startswith((NOW + timedelta(hours=24)).isoformat()[:19])
        consume_own(handle, db, "assessment.escalated")
        (task,) = db.tasks.find({"kind": task_rules.ESCALATION_CONTACT})
        assert task["owner"] == "dr-east"

    def test_a_risk_flag_added_by_amendment_under_review_escalates(self, handle, db):
        handle(submitted())
        handle(amended(risk_flags=["suicidal_talk"]))
        assert len(outbox(db, "assessment.escalated")) == 1
        assert db.cases.find_one()["escalated"] is True

    def test_a_waiting_referral_is_a_task_realerted_and_breached(self, handle, db, clock, tasks):
        handle(submitted())
        consume_own(handle, db, "assessment.review_requested")
        (task,) = db.tasks.find({"kind": task_rules.REFERRAL_REVIEW})
        assert (task["owner"], task["hospital_id"]) == ("dr-east", "h-east")
        assert task["due_at"] == NOW + timedelta(hours=48)
        clock.now = NOW + timedelta(hours=24)
        assert tasks.sweep() == 1  # re-alert at half
        clock.now = NOW + timedelta(hours=48)
        assert tasks.sweep() == 1  # breach → second line
        stages = [c["kind"] for c in db.task_claims.find()]
        assert sorted(stages) == ["breach", "realert"]

    def test_a_decision_completes_the_task_and_stops_its_alerts(self, handle, db, clock, client, tasks):
        handle(submitted())
        consume_own(handle, db, "assessment.review_requested")
        assert decide(client, {"decision": "accept"}).status_code == 200
        (task,) = db.tasks.find({"kind": task_rules.REFERRAL_REVIEW})
        assert task["state"] == task_rules.COMPLETED
        clock.now = NOW + timedelta(hours=49)
        assert tasks.sweep() == 0

    def test_a_review_task_cannot_be_closed_without_a_decision(self, handle, db, client):
        handle(submitted())
        consume_own(handle, db, "assessment.review_requested")
        body = {"outcome": "family_reached_no_acute_risk"}
        answer = client.post("/v1/tasks/rev-case-1-1/complete", json=body, headers=staff("dr-east"))
        assert answer.status_code == 409

    def test_a_withdrawn_referral_under_review_stops_its_task(self, handle, db, clock, tasks):
        handle(submitted())
        consume_own(handle, db, "assessment.review_requested")
        withdrawn = {"case_id": "case-1", "reason": "family_declined"}
        handle(event("referral.withdrawn", "case-1", withdrawn))
        handle(event("referral.withdrawn", "case-1", withdrawn))  # a redelivery: still one completion
        (task,) = db.tasks.find({"kind": task_rules.REFERRAL_REVIEW})
        assert (task["state"], task["outcome"]) == (task_rules.COMPLETED, "review_withdrawn")
        clock.now = NOW + timedelta(hours=49)
        assert tasks.sweep() == 0

    def test_a_late_review_request_for_a_decided_round_makes_no_task(self, handle, db, client):
        handle(submitted())
        assert decide(client, {"decision": "accept"}).status_code == 200
        consume_own(handle, db, "assessment.review_requested")
        assert db.tasks.count_documents({"kind": task_rules.REFERRAL_REVIEW}) == 0


class TestWorklist:
    def test_a_hospitals_reviews_escalated_first_then_oldest(self, handle, client, clock):
        handle(submitted("case-old"))
        clock.now = NOW + timedelta(days=1)
        handle(submitted("case-risk", referred_on="2025-03-11", risk_flags=["self_harm"]))
        handle(submitted("case-west", preferences={"hospitals": ["h-west"]}))  # auto-accepted
        answer = client.get("/v1/reviews?hospital=h-east", headers=staff("dr-east", "h-east"))
        assert answer.status_code == 200
        assert [c["case_id"] for c in answer.get_json()["items"]] == ["case-risk", "case-old"]
        other = client.get("/v1/reviews?hospital=h-east", headers=staff("dr-west", "h-west"))
        assert other.status_code == 403

    def test_the_reviewer_reads_the_referral_and_its_decisions(self, handle, client):
        handle(submitted(concerns=["anxiety"]))
        decide(client, {"decision": "return", "information_needed": ["absence_details"], "note": "dates?"})
        answer = client.get("/v1/cases/case-1/review", headers=staff("dr-east", "h-east"))
        body = answer.get_json()
        assert (body["status"], body["referral"]["concerns"]) == (rules.RETURNED, ["anxiety"])
        assert body["review_decisions"][0]["information_needed"] == ["absence_details"]
        assert client.get("/v1/cases/case-1/review", headers=staff("dr-west", "h-west")).status_code == 404

    def test_overdue_reviews_are_counted(self, handle, service, clock, db):
        handle(submitted("case-a"))
        handle(submitted("case-b", risk_flags=["self_harm"]))  # due at 24 h
        repo = service.handlers["assessment.review_requested"].__self__.cases
        assert repo.overdue_reviews(NOW + timedelta(hours=23), 1000) == 0
        assert repo.overdue_reviews(NOW + timedelta(hours=24), 1000) == 1
        assert repo.overdue_reviews(NOW + timedelta(hours=48), 1000) == 2
