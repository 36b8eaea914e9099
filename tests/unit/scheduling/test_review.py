"""Referral review (issue 12 item 3): a referral rejected or redirected at review leaves no waitlist trace."""

from __future__ import annotations

from shared.events import Event, event_type
from tests.unit.scheduling.test_expedite import escalated


def decided(case_id: str, outcome: str) -> Event:
    data = {"case_id": case_id, "hospital_id": "bch", "round": 1, "outcome": outcome,
            "decided_at": "2025-03-04T09:00:00Z"}  # fmt: skip
    return Event(event_type("assessment.review_decided"), "/services/assessment", case_id, data)


def test_a_rejected_referrals_escalation_placeholder_is_removed(service, region, db):
    service.handlers["assessment.escalated"](escalated("c-risk"))
    assert db.waitlist.find_one({"_id": "c-risk"})["state"] == "awaiting_triage"  # no offers: not triaged
    service.handlers["assessment.review_decided"](decided("c-risk", "rejected"))
    entry = db.waitlist.find_one({"_id": "c-risk"})
    assert (entry["state"], entry["removed_reason"]) == ("removed", "review_rejected")
    service.handlers["assessment.review_decided"](decided("c-risk", "rejected"))  # redelivery: no change
    assert db.waitlist.find_one({"_id": "c-risk"})["state"] == "removed"


def test_accepted_or_returned_leaves_the_placeholder_for_the_triage(service, region, db):
    service.handlers["assessment.escalated"](escalated("c-risk"))
    for outcome in ("returned", "accepted"):
        service.handlers["assessment.review_decided"](decided("c-risk", outcome))
    assert db.waitlist.find_one({"_id": "c-risk"})["state"] == "awaiting_triage"
    service.handlers["assessment.review_decided"](decided("c-none", "redirected"))  # no entry: nothing
    assert db.waitlist.find_one({"_id": "c-none"}) is None
