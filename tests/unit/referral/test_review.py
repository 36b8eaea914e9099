"""Referral review (issue 12 item 3): the case's status and the school's view follow the decisions."""

from __future__ import annotations

from services.notification.domain.intents import SCHOOL, intents_for
from tests.unit.referral.conftest import incoming, outbox_events

A = "/services/assessment"


def handle(service, event) -> None:
    service.handlers[event.name](event)


def requested(case_id: str, round_: int = 1):
    return incoming(
        "assessment.review_requested",
        case_id,
        A,
        hospital_id="bch",
        round=round_,
        due_at="2025-03-13T09:00:00Z",
        risk_flagged=False,
    )


def decided(case_id: str, outcome: str, round_: int = 1, **codes):
    return incoming(
        "assessment.review_decided",
        case_id,
        A,
        hospital_id="bch",
        round=round_,
        outcome=outcome,
        decided_at="2025-03-11T09:00:00Z",
        **codes,
    )


def view(client, headers, case_id) -> dict:
    return client.get(f"/v1/referrals/{case_id}", headers=headers).json


def test_return_amend_resubmit_accept_moves_the_case_and_the_school_hears_codes(
    service, client, school_a, submit, db
):
    case_id = submit()
    handle(service, requested(case_id))
    assert view(client, school_a, case_id)["status"] == "awaiting_review"
    handle(service, decided(case_id, "returned", information_needed=["attendance_record"]))
    shown = view(client, school_a, case_id)
    assert shown["status"] == "information_requested"
    amended = client.patch(f"/v1/referrals/{case_id}", json={"note": "attendance attached"}, headers=school_a)
    assert amended.status_code == 200  # the school answers through the existing PATCH
    handle(service, requested(case_id, 2))  # assessment's new round after the amendment
    assert view(client, school_a, case_id)["status"] == "awaiting_review"
    handle(service, decided(case_id, "accepted", 2))
    handle(service, incoming("assessment.triaged", case_id, A, band="P2", target_days=30))
    shown = view(client, school_a, case_id)
    assert shown["status"] == "triaged"
    kinds = [e["kind"] for e in shown["timeline"]]
    # (the test's event times and the service clock differ, so only the set and ends are checked)
    assert sorted(kinds) == ["accepted", "amended", "information_requested", "received"]
    assert kinds[0] == "received" and "triaged" not in kinds
    asked = next(e for e in shown["timeline"] if e["kind"] == "information_requested")
    assert asked["detail"] == {"information_needed": ["attendance_record"]}
    statuses = [e["data"]["status"] for e in outbox_events(db, "referral.status_changed")]
    assert statuses == ["submitted", "awaiting_review", "information_requested", "awaiting_review", "triaged"]


def test_a_late_review_event_never_moves_an_accepted_case_back(service, client, school_a, submit):
    case_id = submit()
    handle(service, incoming("assessment.triaged", case_id, A, band="P2", target_days=30))
    handle(service, requested(case_id, 1))
    assert view(client, school_a, case_id)["status"] == "triaged"


def test_rejection_closes_the_case_and_frees_the_child(service, client, school_a, submit, db):
    case_id = submit()
    handle(service, requested(case_id))
    handle(service, decided(case_id, "rejected", reason="outside_catchment"))
    shown = view(client, school_a, case_id)
    assert shown["status"] == "rejected"
    last = shown["timeline"][-1]
    assert (last["kind"], last["detail"]) == ("not_accepted", {"reason": "outside_catchment"})
    assert db.cases.find_one({"_id": case_id})["child_slot"] == f"case:{case_id}"
    patch = client.patch(f"/v1/referrals/{case_id}", json={"note": "x"}, headers=school_a)
    assert patch.status_code == 409


def test_a_redelivered_decision_changes_nothing(service, client, school_a, submit, db):
    case_id = submit()
    handle(service, requested(case_id))
    event = decided(case_id, "redirected", redirect_to="emergency_services")
    handle(service, event)
    handle(service, event)
    assert [e["data"]["status"] for e in outbox_events(db, "referral.status_changed")][-1] == "redirected"
    assert len(outbox_events(db, "referral.status_changed")) == 3


def test_each_decision_reaches_the_school_by_webhook_as_codes():
    base = {"case_id": "c-1", "hospital_id": "bch", "round": 1, "decided_at": "2025-03-11T09:00:00Z"}
    (accepted,) = intents_for("assessment.review_decided", {**base, "outcome": "accepted"})
    assert (accepted.audience, accepted.context) == (SCHOOL, {"status": "referral_accepted"})
    data = {**base, "outcome": "returned", "information_needed": ["absence_details"]}
    (returned,) = intents_for("assessment.review_decided", data)
    assert returned.context == {"status": "information_requested", "information_needed": ["absence_details"]}
    data = {**base, "outcome": "redirected", "redirect_to": "emergency_services"}
    (redirected,) = intents_for("assessment.review_decided", data)
    assert redirected.context == {"status": "redirected", "redirect_to": "emergency_services"}
    assert returned.channels == ("webhook",)


def test_the_fhir_request_is_on_hold_while_information_is_requested(service, client, school_a, submit):
    case_id = submit()
    handle(service, requested(case_id))
    handle(service, decided(case_id, "returned", information_needed=["absence_details"]))
    resource = client.get(f"/v1/referrals/{case_id}/fhir", headers=school_a).json
    assert resource["status"] == "on-hold"
    handle(service, requested(case_id, 2))
    handle(service, decided(case_id, "redirected", 2, redirect_to="paediatrics"))
    assert client.get(f"/v1/referrals/{case_id}/fhir", headers=school_a).json["status"] == "revoked"
