"""HZ-02 and HZ-10 (docs/clinical-safety.md): every escalation is an owned, watched task."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import mongomock
import pytest

from services.assessment.bootstrap import build
from services.assessment.config import AssessmentConfig, ConfigError
from services.assessment.domain import tasks as rules
from services.assessment.tasks import Tasks
from shared.auth import StaffTokens
from shared.contracts.registry import read
from shared.events import Event, event_type

from .conftest import NOW, SECRET, event, outbox, submitted

ROSTER = {
    "h-east": {"clinician": "dr-east", "second_line": "dr-east-2"},
    "h-north": {"clinician": "dr-north", "second_line": "dr-north-2"},
}


@pytest.fixture
def settings(settings):
    extra = {"ASSESSMENT_ONCALL": json.dumps(ROSTER)}
    return settings.but(extra=extra)


@pytest.fixture
def tasks(service) -> Tasks:
    return service.handlers["assessment.escalated"].__self__


def staff(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {StaffTokens(SECRET).issue(who, 'clinician')}"}


def task_alerts(db) -> list[dict[str, Any]]:
    """Every assessment.task_alert written to an outbox (tasks and claims), oldest first."""
    found = [e for c in ("tasks", "task_claims") for doc in db[c].find() for e in doc.get("outbox", [])]
    alerts = [
        read("assessment.task_alert", e["data"])
        for e in found
        if e["type"] == event_type("assessment.task_alert")
    ]
    return sorted(alerts, key=lambda a: ("requested", "realert", "breach").index(a["stage"]))


def escalate(handle, db, **changes: Any) -> dict[str, Any]:
    """A self-harm referral, and assessment consuming its own escalation: the task."""
    handle(submitted(risk_flags=["self_harm"], **changes))
    (escalated,) = outbox(db, "assessment.escalated")
    handle(Event.from_dict(escalated))
    (task,) = db.tasks.find()
    return task


class TestHz02EscalationsBecomeOwnedTasks:
    def test_an_escalation_becomes_one_task_owned_by_the_holding_hospitals_on_call(self, handle, db):
        task = escalate(handle, db)
        assert task["owner"] == "dr-east"  # first preferred of ["h-east", "h-west"]; not both
        assert task["hospital_id"] == "h-east"
        assert task["state"] == rules.REQUESTED
        assert task["due_at"] == NOW + timedelta(hours=24)  # self-harm: the contact deadline
        (alert,) = task_alerts(db)
        assert (alert["stage"], alert["recipient"], alert["tier"]) == ("requested", "dr-east", "owner")

    def test_the_booking_hospital_holds_the_case(self, handle, db):
        handle(submitted())
        booked = {
            "case_id": "case-1",
            "appointment_id": "a-1",
            "hospital_id": "h-north",
            "start": (NOW + timedelta(days=3)).isoformat(),
            "end": (NOW + timedelta(days=3, hours=1)).isoformat(),
            "kind": "intake",
        }
        handle(event("appointment.booked", "case-1", booked, "/services/scheduling"))
        handle(event("referral.amended", "case-1", {**submitted().data, "risk_flags": ["self_harm"]}))
        (escalated,) = outbox(db, "assessment.escalated")
        handle(Event.from_dict(escalated))
        (task,) = db.tasks.find()
        assert (task["hospital_id"], task["owner"]) == ("h-north", "dr-north")

    def test_a_redelivered_escalation_makes_no_second_task_or_alert(self, handle, db):
        escalate(handle, db)
        (escalated,) = outbox(db, "assessment.escalated")
        handle(Event.from_dict(escalated))
        assert db.tasks.count_documents({}) == 1
        assert len(task_alerts(db)) == 1

    def test_re_alert_at_half_the_deadline_when_not_acknowledged(self, handle, db, tasks, clock):
        task = escalate(handle, db)
        clock.now = NOW + timedelta(hours=11, minutes=59)
        assert tasks.sweep() == 0
        clock.now = NOW + timedelta(hours=12)
        assert tasks.sweep() == 1
        assert tasks.sweep() == 0  # once only
        realert = task_alerts(db)[1]
        assert (realert["stage"], realert["recipient"]) == ("realert", "dr-east")
        assert tasks.get(task["_id"])["duty"] == rules.BREACH

    def test_two_workers_raise_the_re_alert_once(self, handle, db, tasks, clock, settings):
        escalate(handle, db)
        clock.now = NOW + timedelta(hours=12)
        other = build(settings, db=db, clock=clock).handlers["assessment.escalated"].__self__
        stale = db.tasks.find_one()  # both sweepers read the task before either raised
        assert tasks._raise(dict(stale), rules.REALERT, clock.now) == 1
        assert other._raise(dict(stale), rules.REALERT, clock.now) == 0
        assert [a["stage"] for a in task_alerts(db)] == ["requested", "realert"]

    def test_acknowledged_in_time_means_no_re_alert(self, handle, db, tasks, clock, client):
        task = escalate(handle, db)
        reply = client.post(f"/v1/tasks/{task['_id']}/acknowledge", headers=staff("dr-east"))
        assert reply.status_code == 200, reply.json
        assert reply.json["status"] == "accepted"
        clock.now = NOW + timedelta(hours=13)
        assert tasks.sweep() == 0

    def test_breach_alerts_the_second_line(self, handle, db, tasks, clock, client):
        task = escalate(handle, db)
        client.post(f"/v1/tasks/{task['_id']}/acknowledge", headers=staff("dr-east"))
        clock.now = NOW + timedelta(hours=24)
        assert tasks.sweep() == 1
        breach = task_alerts(db)[-1]
        assert (breach["stage"], breach["recipient"], breach["tier"]) == (
            "breach",
            "dr-east-2",
            "second_line",
        )
        clock.now = NOW + timedelta(hours=30)
        assert tasks.sweep() == 0

    def test_completed_with_an_outcome_from_the_fixed_list(self, handle, db, tasks, clock, client):
        task = escalate(handle, db)
        url = f"/v1/tasks/{task['_id']}"
        client.post(url + "/acknowledge", headers=staff("dr-east"))
        bad = client.post(url + "/complete", json={"outcome": "chatted"}, headers=staff("dr-east"))
        assert bad.status_code == 422
        done = client.post(
            url + "/complete",
            json={"outcome": "family_reached_safety_plan_made"},
            headers=staff("dr-east"),
        )
        assert done.status_code == 200
        assert done.json["status"] == "completed"
        assert done.json["output"][0]["valueCodeableConcept"]["coding"][0]["code"] == (
            "family_reached_safety_plan_made"
        )
        clock.now = NOW + timedelta(days=2)
        assert tasks.sweep() == 0
        again = client.post(url + "/acknowledge", headers=staff("dr-east"))
        assert again.status_code == 409

    def test_only_the_owner_works_the_task(self, handle, db, client):
        task = escalate(handle, db)
        reply = client.post(f"/v1/tasks/{task['_id']}/acknowledge", headers=staff("dr-north"))
        assert reply.status_code == 404

    def test_exported_as_a_fhir_r4_task(self, handle, db, client):
        task = escalate(handle, db)
        reply = client.get(f"/v1/tasks/{task['_id']}", headers=staff("dr-east"))
        assert reply.status_code == 200
        assert reply.mimetype == "application/fhir+json"
        body = reply.get_json(force=True)
        assert body["resourceType"] == "Task"
        assert (body["status"], body["intent"]) == ("requested", "order")
        assert body["owner"] == {"reference": "Practitioner/dr-east"}
        assert body["focus"] == {"reference": "Case/case-1"}
        assert body["restriction"]["period"]["end"] == "2025-03-11T09:00:00Z"
        listed = client.get("/v1/tasks?state=requested", headers=staff("dr-east")).json["items"]
        assert [t["id"] for t in listed] == [task["_id"]]

    def test_contacts_only_for_a_task_holder_and_every_read_is_logged(self, handle, db, tasks, client):
        task = escalate(handle, db)
        tasks.contacts = lambda case_id: {"case_id": case_id, "guardians": [{"phone": "+86 138 0000 0000"}]}
        url = "/v1/cases/case-1/contacts?reason=escalation+call+to+family"
        refused = client.get(url, headers=staff("dr-north"))
        assert refused.status_code == 403
        reply = client.get(url, headers=staff("dr-east"))
        assert reply.status_code == 200
        assert reply.json["guardians"][0]["phone"] == "+86 138 0000 0000"
        log = client.get("/v1/cases/case-1/access-log", headers=staff("dr-east")).json["items"]
        assert [(e["by"], e["why"], e["task_id"]) for e in log] == [
            ("dr-east", "escalation call to family", task["_id"])
        ]
        assert client.get("/v1/cases/case-1/contacts", headers=staff("dr-east")).status_code == 422


class TestHz02OnCallConfiguration:
    def test_an_unknown_roster_key_or_missing_clinician_refuses_to_start(self):
        with pytest.raises(ConfigError, match="unknown keys"):
            AssessmentConfig.from_extra({"ASSESSMENT_ONCALL": '{"h-east": {"clinican": "dr-x"}}'})
        with pytest.raises(ConfigError, match="needs a clinician"):
            AssessmentConfig.from_extra({"ASSESSMENT_ONCALL": '{"h-east": {}}'})

    def test_stack_mode_refuses_hospitals_with_cases_and_nobody_on_call(self, settings, clock):
        db = mongomock.MongoClient(tz_aware=True)["assessment_oncall"]
        first = build(settings, db=db, clock=clock)
        first.handlers["referral.submitted"](submitted(preferences={"hospitals": ["h-west"]}))
        stack = settings.but(mode="kafka", staff_token_secret=SECRET * 2, kafka_bootstrap="127.0.0.1:1")
        with pytest.raises(ConfigError, match="h-west"):
            build(stack, db=db, clock=clock)
        covered = {**ROSTER, "h-west": {"clinician": "dr-west"}}
        build(stack.but(extra={"ASSESSMENT_ONCALL": json.dumps(covered)}), db=db, clock=clock)

    def test_an_escalation_nobody_is_on_call_for_is_kept_unowned_and_counted(self, handle, db, tasks):
        task = escalate(handle, db, preferences={"hospitals": ["h-west"]})
        assert (task["owner"], task["hospital_id"]) == (rules.UNOWNED, "h-west")
        (alert,) = task_alerts(db)
        assert alert["recipient"] == rules.UNOWNED  # notification falls back to the hospital's on-call
        assert tasks.unowned_open() == 1
        assert tasks.hospitals_without_oncall() == ["h-west"]

    def test_any_clinician_may_take_on_an_unowned_task(self, handle, db, client, tasks):
        task = escalate(handle, db, preferences={"hospitals": ["h-west"]})
        reply = client.post(f"/v1/tasks/{task['_id']}/acknowledge", headers=staff("dr-west"))
        assert reply.status_code == 200
        assert tasks.get(task["_id"])["owner"] == "dr-west"
        assert tasks.unowned_open() == 0


def no_show(appointment_id: str = "a-1") -> Event:
    data = {
        "case_id": "case-1",
        "appointment_id": appointment_id,
        "hospital_id": "h-north",
        "start": NOW.isoformat(),
        "end": (NOW + timedelta(hours=1)).isoformat(),
        "kind": "intake",
        "no_show_count": 1,
    }
    return event("appointment.no_show", "case-1", data, "/services/scheduling")


class TestHz10NoShowOfAnAtRiskChild:
    def test_an_escalated_childs_no_show_is_a_same_day_safeguarding_task(self, handle, db, clock):
        escalate(handle, db)
        clock.now = NOW + timedelta(hours=2)  # 11:00 UTC = 19:00 in Shanghai
        handle(no_show())
        task = db.tasks.find_one({"kind": rules.SAFEGUARDING_CONTACT})
        assert task is not None
        assert task["owner"] == "dr-east"
        assert task["due_at"] == NOW.replace(hour=15, minute=59)  # 23:59 Shanghai, same day
        assert task["action"] == "safeguarding_contact_today"
        handle(no_show())  # a redelivery: still one
        assert db.tasks.count_documents({"kind": rules.SAFEGUARDING_CONTACT}) == 1

    def test_a_routine_childs_no_show_makes_no_task(self, handle, db):
        handle(submitted())
        handle(no_show())
        assert db.tasks.count_documents({}) == 0
