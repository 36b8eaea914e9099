"""Consumed events: first triage, redelivery, amendment, withdrawal, attendance and relapse."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest

from services.assessment.repository import UnknownCase
from shared import topics
from shared.contracts.registry import read
from shared.events import event_type, from_kafka, to_kafka
from shared.memory_bus import MemoryBus
from shared.runtime import embedded_workers

from .conftest import NOW, amended, event, outbox, submitted


def attendance(case_id: str, week_start: str, hours: list[float]):
    return event(
        "attendance.reported", case_id, {"case_id": case_id, "week_start": week_start, "hours_by_day": hours}
    )


class TestFirstTriage:
    def test_submitted_referral_is_triaged_with_factors_and_rule_version(self, handle, db):
        handle(submitted(absence={"start": "2025-01-13", "days_missed_last_20": 20}, exam_year=True))
        doc = db.cases.find_one({"_id": "case-1"})
        record = doc["triage"][0]
        # 8 weeks absent (16) + 20/20 days missed (18) + exam year (6) = 40
        assert (record["band"], record["score"], record["version"]) == ("P2", 40, 1)
        assert {f["code"] for f in record["factors"]} == {"absence_duration", "days_missed", "exam_year"}
        assert record["rule_version"].startswith("waymark-sr-2025.2+")
        [triaged] = outbox(db, "assessment.triaged")
        data = read("assessment.triaged", triaged["data"])
        assert data["band"] == "P2" and data["triage_version"] == 1 and data["overridden"] is False
        assert data["constraints"]["hospitals"] == ["h-east", "h-west"]
        assert triaged["subject"] == "case-1"

    def test_redelivered_submission_gives_one_triage(self, handle, db):
        e = submitted()
        handle(e)
        handle(e)
        assert db.cases.count_documents({}) == 1
        assert len(db.cases.find_one()["triage"]) == 1
        assert len(outbox(db, "assessment.triaged")) == 1

    def test_events_carry_no_personal_data(self, handle, db):
        handle(submitted(risk_flags=["self_harm"]))
        for e in outbox(db):
            assert set(e["data"]) <= {
                "case_id", "triage_version", "band", "score", "target_days", "referred_on", "rule_version",
                "factors", "clinic_type", "school_intervention", "overridden", "constraints",
                "reasons", "contact_deadline", "contact_within_hours", "hospitals", "action",
            }  # fmt: skip


class TestEscalation:
    @pytest.mark.parametrize(
        ("flags", "hours"),
        [
            (["self_harm"], 24),
            (["not_eating"], 24),
            (["suicidal_talk"], 4),
            (["self_harm", "suicidal_talk"], 4),
        ],
    )
    def test_risk_escalates_with_the_tightest_deadline(self, handle, db, flags, hours):
        handle(submitted(risk_flags=flags))
        [escalated] = outbox(db, "assessment.escalated")
        data = read("assessment.escalated", escalated["data"])
        assert sorted(data["reasons"]) == sorted(flags)
        assert data["contact_within_hours"] == hours
        assert data["contact_deadline"] == NOW + timedelta(hours=hours)
        assert data["hospitals"] == ["h-east", "h-west"]
        assert db.cases.find_one()["band"] == "P1"

    def test_escalated_is_published_before_triaged(self, handle, db):
        handle(submitted(risk_flags=["self_harm"]))
        assert [e["type"] for e in outbox(db)] == [
            event_type("assessment.escalated"),
            event_type("assessment.triaged"),
        ]

    def test_amendment_escalates_only_new_risk(self, handle, db):
        handle(submitted(risk_flags=["self_harm"]))
        handle(amended(risk_flags=["self_harm"], return_attempts=2))
        assert len(outbox(db, "assessment.escalated")) == 1
        handle(amended(risk_flags=["self_harm", "suicidal_talk"]))
        escalations = outbox(db, "assessment.escalated")
        assert [e["data"]["reasons"] for e in escalations] == [["self_harm"], ["suicidal_talk"]]


class TestAmendment:
    def test_amendment_adds_a_triage_version(self, handle, db):
        handle(submitted())
        handle(amended(return_attempts=3, impairments=["sleep", "withdrawal"]))
        doc = db.cases.find_one()
        assert [t["version"] for t in doc["triage"]] == [1, 2]
        assert doc["triage"][1]["score"] == 24 and doc["triage_version"] == 2
        assert [e["data"]["triage_version"] for e in outbox(db, "assessment.triaged")] == [1, 2]

    def test_redelivered_amendment_is_applied_once(self, handle, db):
        handle(submitted())
        e = amended(return_attempts=1)
        handle(e)
        handle(e)
        assert len(db.cases.find_one()["triage"]) == 2

    def test_amendment_of_an_unknown_case_fails_loudly(self, handle):
        with pytest.raises(UnknownCase):
            handle(amended("nobody"))

    def test_override_survives_an_amendment_without_new_risk(self, handle, db, casework):
        handle(submitted())
        casework.override("case-1", "P1", None, "known to CAMHS, deteriorating", "dr-li", None)
        handle(amended(return_attempts=1))
        latest = db.cases.find_one()["triage"][-1]
        assert (latest["version"], latest["band"], latest["overridden"]) == (3, "P1", True)
        assert (latest["override_kept_from"], latest["target_days"], latest["score"]) == (2, 7, 5)

    def test_new_risk_ends_a_downgrading_override(self, handle, db, casework):
        handle(submitted(risk_flags=["self_harm"]))
        casework.override("case-1", "P2", None, "old incident two years ago, now safe at home", "dr-li", None)
        casework.cosign("case-1", "dr-wang", None, None)  # lowering an escalated case (HZ-11)
        handle(amended(risk_flags=["self_harm"], return_attempts=1))
        assert db.cases.find_one()["band"] == "P2"  # same risk as before: the clinician's band stands
        handle(amended(risk_flags=["self_harm", "not_eating"]))
        latest = db.cases.find_one()["triage"][-1]
        assert (latest["band"], latest["overridden"]) == ("P1", False)


class TestWithdrawalAndAttendance:
    def test_withdrawn_case_leaves_the_queue_once(self, handle, db):
        handle(submitted())
        e = event("referral.withdrawn", "case-1", {"case_id": "case-1", "reason": "family_choice"})
        handle(e)
        handle(e)
        doc = db.cases.find_one()
        assert doc["status"] == "withdrawn" and doc["withdrawn_reason"] == "family_choice"
        handle(amended(risk_flags=["self_harm"]))
        assert len(db.cases.find_one()["triage"]) == 1  # no re-triage after withdrawal

    def test_withdrawal_of_an_unknown_case_is_ignored(self, handle):
        handle(event("referral.withdrawn", "ghost", {"case_id": "ghost", "reason": "x"}))

    def test_attended_intake_leaves_the_queue(self, handle, db):
        handle(submitted())
        data = {"case_id": "case-1", "appointment_id": "a1", "kind": "intake", "hospital_id": "h-east"}
        handle(event("appointment.attended", "case-1", data, source="/services/scheduling"))
        assert db.cases.find_one()["status"] == "seen"


class TestRelapse:
    @pytest.fixture
    def planned(self, handle, service):
        handle(submitted())
        starts = ("2025-03-03", "2025-03-10", "2025-03-17")
        weeks = [{"week_start": date.fromisoformat(d), "target_hours_per_day": 2.0} for d in starts]
        service_followup(service).set_plan("case-1", weeks, "dr-li")

    def test_two_weeks_below_target_raise_one_relapse(self, handle, db, planned):
        handle(attendance("case-1", "2025-03-03", [1, 1, 1, 1, 1]))
        assert outbox(db, "followup.relapse_detected") == []
        second = attendance("case-1", "2025-03-10", [2, 2, 1, 1, 1])
        handle(second)
        handle(second)  # redelivery
        handle(attendance("case-1", "2025-03-17", [0, 0, 0, 0, 0]))  # same episode grows
        [relapse] = outbox(db, "followup.relapse_detected")
        assert relapse["data"] == {"case_id": "case-1", "weeks_below": ["2025-03-03", "2025-03-10"]}

    def test_on_target_weeks_raise_nothing(self, handle, db, planned):
        for week in ("2025-03-03", "2025-03-10", "2025-03-17"):
            handle(attendance("case-1", week, [2, 2, 2, 2, 2]))
        assert outbox(db, "followup.relapse_detected") == []


@pytest.fixture
def casework(service):
    return service.handlers["referral.amended"].__self__


def service_followup(service):
    """The FollowUp use case behind the service's attendance handler."""
    return service.handlers["attendance.reported"].__self__


class TestThroughTheBus:
    def test_same_event_twice_on_the_bus_gives_one_triage(self, service, db):
        bus = MemoryBus()
        e = submitted("case-bus", risk_flags=["suicidal_talk"])
        for _ in range(2):
            bus.send(topics.events("referral"), *to_kafka(e))
        [worker] = embedded_workers([service], bus)
        worker.start()
        try:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and len(bus.records(topics.events("assessment"))) < 3:
                time.sleep(0.01)
            time.sleep(0.05)  # a wrong third publication would show up here
        finally:
            worker.stop()
        published = [from_kafka(r.value, r.headers) for r in bus.records(topics.events("assessment"))]
        # The escalation's task (HZ-02) alerts once: assessment consumes its own escalation.
        names = ["assessment.escalated", "assessment.triaged", "assessment.task_alert"]
        assert [p.name for p in published] == names
        assert len(db.cases.find_one({"_id": "case-bus"})["triage"]) == 1
        assert db.processed_events.count_documents({}) == 2  # the referral, and our own escalation
