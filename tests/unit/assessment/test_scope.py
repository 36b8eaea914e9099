"""HZ-02: the on-call clinician of the hospital holding a case, scoped to that hospital, works
their tasks and reads their cases; a case or task of another hospital answers 404, lists
hold only their hospitals' items, and a regional clinician still sees everything."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from services.assessment import scope
from services.assessment.tasks import Tasks
from shared.auth import Principal, StaffTokens
from shared.events import Event

from .conftest import NOW, SECRET, event, outbox, submitted

ROSTER = {
    "h-east": {"clinician": "dr-east", "second_line": "dr-east-2"},
    "h-west": {"clinician": "dr-west", "second_line": "dr-west-2"},
    "h-north": {"clinician": "dr-north", "second_line": "dr-north-2"},
}
GAD7 = {"informant": "child", "responses": {str(n): 0 for n in range(1, 8)}}


@pytest.fixture
def settings(settings):
    extra = {"ASSESSMENT_ONCALL": json.dumps(ROSTER), "ASSESSMENT_LICENSED_INSTRUMENTS": "gad-7"}
    return settings.but(extra=extra)


@pytest.fixture
def tasks(service) -> Tasks:
    worklist = service.handlers["assessment.escalated"].__self__
    worklist.contacts = lambda case_id: {"case_id": case_id, "guardians": [{"phone": "+86 138 0000 0000"}]}
    return worklist


def staff(who: str, *hospitals: str) -> dict[str, str]:
    token = StaffTokens(SECRET).issue(who, "clinician", hospitals or ("*",))
    return {"Authorization": f"Bearer {token}"}


EAST, WEST = staff("dr-east", "h-east"), staff("dr-west", "h-west")
REGIONAL = staff("dr-region")


def escalate(handle, db, case_id: str, hospital: str) -> dict[str, Any]:
    """A self-harm referral preferring only ``hospital``: its escalation task, owned by that on-call."""
    handle(submitted(case_id, risk_flags=["self_harm"], preferences={"hospitals": [hospital]}))
    (escalated,) = [e for e in outbox(db, "assessment.escalated") if e["data"]["case_id"] == case_id]
    handle(Event.from_dict(escalated))
    return db.tasks.find_one({"case_id": case_id})


@pytest.fixture
def two(handle, db, tasks) -> tuple[dict[str, Any], dict[str, Any]]:
    """case-e held by h-east (task for dr-east), case-w held by h-west (task for dr-west)."""
    return escalate(handle, db, "case-e", "h-east"), escalate(handle, db, "case-w", "h-west")


class TestTasks:
    def test_a_hospital_scoped_owner_lists_reads_acknowledges_and_completes_their_task(self, client, two):
        east, _ = two
        assert east["owner"] == "dr-east" and east["hospital_id"] == "h-east"
        listed = client.get("/v1/tasks?state=requested", headers=EAST).json["items"]
        assert [t["id"] for t in listed] == [east["_id"]]
        path = f"/v1/tasks/{east['_id']}"
        assert client.get(path, headers=EAST).status_code == 200
        assert client.get(f"{path}/history", headers=EAST).status_code == 200
        assert client.post(f"{path}/acknowledge", json={}, headers=EAST).json["status"] == "accepted"
        done = client.post(f"{path}/complete", json={"outcome": "unable_to_reach"}, headers=EAST)
        assert done.status_code == 200 and done.json["status"] == "completed"

    def test_another_hospitals_task_answers_404_on_every_task_route(self, client, two):
        _, west = two
        path = f"/v1/tasks/{west['_id']}"
        for method, url, body in [
            ("GET", path, None),
            ("GET", f"{path}/history", None),
            ("POST", f"{path}/acknowledge", {}),
            ("POST", f"{path}/complete", {"outcome": "unable_to_reach"}),
        ]:
            assert client.open(url, method=method, json=body, headers=EAST).status_code == 404, url
        assert client.get(f"{path}", headers=WEST).status_code == 200  # it exists, for its hospital

    def test_the_task_of_a_hospital_my_token_does_not_cover_is_not_listed_even_if_i_own_it(self, client, two):
        """Owner by roster, but the token is scoped elsewhere: the scope wins (no cross-hospital work)."""
        mine_elsewhere = staff("dr-east", "h-west")
        assert client.get("/v1/tasks?state=requested", headers=mine_elsewhere).json["items"] == []
        assert client.get("/v1/tasks?state=requested", headers=staff("dr-east")).json["items"]

    def test_unowned_tasks_are_filtered_by_hospital(self, client, handle, db, tasks):
        handle(submitted("case-s", risk_flags=["self_harm"], preferences={"hospitals": ["h-south"]}))
        (escalated,) = outbox(db, "assessment.escalated")
        handle(Event.from_dict(escalated))
        (task,) = db.tasks.find()
        assert task["owner"] == "unowned" and task["hospital_id"] == "h-south"
        url = "/v1/tasks?state=requested&owner=unowned"
        assert client.get(url, headers=EAST).json["items"] == []
        south = client.get(url, headers=staff("dr-s", "h-south")).json["items"]
        assert [t["id"] for t in south] == [task["_id"]]
        assert [t["id"] for t in client.get(url, headers=REGIONAL).json["items"]] == [task["_id"]]


class TestCases:
    def test_the_case_routes_answer_for_my_hospitals_cases_and_404_for_others(self, client, two):
        for case, mine in (("case-e", True), ("case-w", False)):
            base = f"/v1/cases/{case}"
            answers = [
                client.get(f"{base}/triage", headers=EAST),
                client.get(f"{base}/instruments/gad-7/trajectory", headers=EAST),
                client.post(f"{base}/instruments/gad-7/responses", json=GAD7, headers=EAST),
                client.post(
                    f"{base}/triage/override", json={"band": "P1", "reason": "judgement"}, headers=EAST
                ),
                client.post(f"{base}/triage/override/cosign", json={}, headers=EAST),
            ]
            codes = [a.status_code for a in answers]
            if mine:
                assert codes[:4] == [200, 200, 201, 201] and codes[4] == 409  # nothing to co-sign
            else:
                assert codes == [404] * 5, codes
                assert all(a.json["error"]["message"] == "No such case in assessment." for a in answers)

    def test_the_fhir_exports_follow_the_routes_they_mirror(self, client, two):
        for case in ("case-e", "case-w"):
            scored = client.post(f"/v1/cases/{case}/instruments/gad-7/responses", json=GAD7, headers=REGIONAL)
            assert scored.status_code == 201
        for case, expected in (("case-e", 200), ("case-w", 404)):
            base = f"/v1/cases/{case}/instruments/gad-7"
            assert client.get(f"{base}/responses/1/fhir", headers=EAST).status_code == expected
            assert client.get(f"{base}/observations/fhir", headers=EAST).status_code == expected
        # case-w: the scope answers before "never needed a review" could tell it exists
        assert client.get("/v1/cases/case-w/review/fhir", headers=EAST).json["error"]["message"] == (
            "No such case in assessment."
        )

    def test_an_unknown_case_and_another_hospitals_case_look_the_same(self, client, two):
        unknown = client.get("/v1/cases/case-nope/triage", headers=EAST)
        other = client.get("/v1/cases/case-w/triage", headers=EAST)
        assert unknown.status_code == other.status_code == 404
        assert unknown.json["error"]["message"] == other.json["error"]["message"]

    def test_any_preferred_hospital_sees_the_case_and_the_region_sees_all(self, client, handle):
        handle(submitted("case-both", preferences={"hospitals": ["h-east", "h-west"]}))
        for headers in (EAST, WEST, REGIONAL):
            assert client.get("/v1/cases/case-both/triage", headers=headers).status_code == 200
        assert client.get("/v1/cases/case-both/triage", headers=staff("x", "h-north")).status_code == 404

    def test_the_triage_queue_holds_only_my_hospitals_cases(self, client, two):
        mine = client.get("/v1/triage/queue", headers=EAST).json
        assert [c["case_id"] for c in mine["items"]] == ["case-e"] and mine["total"] == 1
        both = client.get("/v1/triage/queue", headers=staff("x", "h-east", "h-west")).json
        assert sorted(c["case_id"] for c in both["items"]) == ["case-e", "case-w"]
        assert client.get("/v1/triage/queue", headers=REGIONAL).json["total"] == 2


class TestContacts:
    URL = "/v1/cases/{}/contacts?reason=escalation+call+to+family"

    def test_my_hospitals_task_holder_reads_them_and_the_read_is_logged(self, client, two, db):
        east, _ = two
        reply = client.get(self.URL.format("case-e"), headers=EAST)
        assert reply.status_code == 200 and reply.json["guardians"][0]["phone"] == "+86 138 0000 0000"
        (entry,) = db.contact_access_log.find()
        assert (entry["by"], entry["task_id"]) == ("dr-east", east["_id"])

    def test_another_hospitals_case_is_404_and_mine_without_a_task_403_and_nothing_is_logged(
        self, client, two, db, handle
    ):
        assert client.get(self.URL.format("case-w"), headers=EAST).status_code == 404
        handle(submitted("case-e2", preferences={"hospitals": ["h-east"]}))  # mine, no task
        assert client.get(self.URL.format("case-e2"), headers=EAST).status_code == 403
        assert db.contact_access_log.count_documents({}) == 0


class TestHospitalIds:
    def booking(self, handle, hospital: str, kind: str = "appointment.booked") -> None:
        start = NOW + timedelta(days=3)
        data = {"case_id": "case-e", "appointment_id": "a-1", "hospital_id": hospital, "kind": "intake"}
        data |= {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}
        handle(event(kind, "case-e", data, "/services/scheduling"))

    def test_a_booking_adds_its_hospital_and_a_cancellation_takes_it_away(self, handle, db, client, two):
        assert db.cases.find_one({"_id": "case-e"})["hospital_ids"] == ["h-east"]
        self.booking(handle, "h-north")
        assert db.cases.find_one({"_id": "case-e"})["hospital_ids"] == ["h-north", "h-east"]
        north = staff("dr-north", "h-north")
        assert [c["case_id"] for c in client.get("/v1/triage/queue", headers=north).json["items"]] == [
            "case-e"
        ]
        self.booking(handle, "h-north", "appointment.cancelled")
        assert db.cases.find_one({"_id": "case-e"})["hospital_ids"] == ["h-east"]
        assert client.get("/v1/triage/queue", headers=north).json["items"] == []

    def test_a_task_owner_keeps_the_case_when_the_booking_moves_it_away(self, handle, db, client):
        """dr-north's escalation task stays theirs after the booking at h-north is cancelled."""
        handle(submitted("case-e", preferences={"hospitals": ["h-east"]}))
        self.booking(handle, "h-north")
        handle(event("referral.amended", "case-e", {**submitted("case-e").data, "risk_flags": ["self_harm"]}))
        (escalated,) = outbox(db, "assessment.escalated")
        handle(Event.from_dict(escalated))
        assert db.tasks.find_one()["hospital_id"] == "h-north"
        self.booking(handle, "h-north", "appointment.cancelled")
        north = staff("dr-north", "h-north")
        assert client.get("/v1/cases/case-e/triage", headers=north).status_code == 200
        assert client.get("/v1/cases/case-e/triage", headers=staff("dr-other", "h-north")).status_code == 404

    def test_backfill_gives_old_cases_their_hospitals_once(self, handle, db, two):
        db.cases.update_many({}, {"$unset": {"hospital_ids": ""}})  # as stored before the field,
        db.meta.delete_one({"_id": scope.BACKFILLED})  # when no backfill had run
        db.cases.insert_one({"_id": "case-none", "status": "active"})
        assert scope.backfill(db) == 3
        assert db.cases.find_one({"_id": "case-w"})["hospital_ids"] == ["h-west"]
        assert db.cases.find_one({"_id": "case-none"})["hospital_ids"] == []
        db.cases.update_one({"_id": "case-none"}, {"$unset": {"hospital_ids": ""}})
        assert scope.backfill(db) == 0  # done once: later starts skip it (no scan, no plain writes)


def test_case_hospitals_are_booking_preferred_and_reviewing_without_duplicates():
    doc = {
        "booked_hospital": "h-north",
        "referral": {"preferences": {"hospitals": ["h-east", "h-north"]}},
        "review": {"hospital_id": "h-west"},
    }
    assert scope.case_hospitals(doc) == ["h-north", "h-east", "h-west"]
    east = Principal("staff", "dr", "clinician", ("h-east",))
    assert scope.covers(east, scope.case_hospitals(doc)) and not scope.covers(east, ["h-west"])
    assert not scope.covers_task(east, {"hospital_id": None})  # the default's: regional only
    assert scope.list_filter(Principal("staff", "dr", "clinician", ("*",))) == {}
    assert scope.list_filter(east) == {"hospital_ids": "h-east"}  # equality: FerretDB's index serves it
    two = Principal("staff", "dr", "clinician", ("h-west", "h-east", "h-west"))
    assert scope.task_filter(two) == {"hospital_id": {"$in": ["h-east", "h-west"]}}
