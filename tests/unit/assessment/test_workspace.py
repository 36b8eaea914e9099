"""The clinician's workspace: who gets the /clinic page, the review list, and writes riding on a session."""

from __future__ import annotations

import json

import pytest

from services.assessment.workspace import STATIC
from shared.auth import StaffTokens
from shared.events import Event
from tests.unit.shared.staff.conftest import CHEAP

from .conftest import SECRET, outbox, submitted

PASSWORD = "clinic-page-password-0123"
ROSTER = {"h-east": {"clinician": "dr-east", "second_line": "dr-east-2"}}
ORIGIN = {"Origin": "http://localhost"}


@pytest.fixture
def settings(settings):
    return settings.but(extra={"ASSESSMENT_ONCALL": json.dumps(ROSTER)})


@pytest.fixture
def staff(client):
    auth = client.application.extensions["waymark_staff_auth"]
    auth.passwords = CHEAP
    return auth


def signed_in(client, staff, username: str, role: str, hospitals: tuple[str, ...] = ("*",)) -> str:
    """Sign ``username`` in (a fresh account) and put its session cookie on ``client``; the CSRF token."""
    staff.create_account(username, role, hospitals, password=PASSWORD)
    outcome = staff.sign_in(username, PASSWORD)
    client.set_cookie("waymark_session", outcome.session_id)
    return outcome.session.csrf


def token(role: str, who: str = "dr-li") -> dict[str, str]:
    return {"Authorization": f"Bearer {StaffTokens(SECRET).issue(who, role)}"}


class TestThePage:
    def test_a_stranger_is_sent_to_sign_in_and_comes_back_to_the_page_in_their_language(self, client):
        answer = client.get("/clinic?lang=zh-CN")
        assert answer.status_code == 303
        assert answer.headers["Location"] == "/staff/sign-in?next=/clinic%3Flang%3Dzh-CN"
        assert client.get("/staff/sign-in?next=/clinic").status_code == 200  # mounted here

    def test_a_regional_clinician_gets_the_page_with_the_fixed_outcome_list(self, client, staff):
        signed_in(client, staff, "dr-wang", "clinician")
        page = client.get("/clinic")
        assert page.status_code == 200 and b'<table id="tasks">' in page.data
        assert b"family_reached_safety_plan_made" in page.data and b"{{OUTCOMES}}" not in page.data
        assert "script-src 'self';" in page.headers["Content-Security-Policy"]
        assert page.headers["Cache-Control"] == "no-store"
        script = client.get("/clinic/clinic.js")
        assert script.status_code == 200 and script.mimetype == "text/javascript"
        assert b'"zh-CN"' in script.data

    def test_the_script_puts_data_in_the_page_only_as_text(self):
        """Case ids, factors, notes and contacts come from people: never parsed as HTML (XSS)."""
        script = (STATIC / "clinic.js").read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in script, sink

    @pytest.mark.parametrize(
        ("role", "hospitals"),
        [("scheduler", ("*",)), ("operator", ("*",)), ("scheduler", ("h-east",))],
    )
    def test_anyone_else_signed_in_gets_a_403_page_saying_why(self, client, staff, role, hospitals):
        csrf = signed_in(client, staff, f"someone-{role}", role, hospitals)
        page = client.get("/clinic")
        assert page.status_code == 403 and b"is for clinicians" in page.data
        assert b'<table id="tasks">' not in page.data
        assert f'name="csrf_token" value="{csrf}"'.encode() in page.data  # its sign-out form works
        out = client.post("/staff/sign-out", data={"csrf_token": csrf}, headers=ORIGIN)
        assert out.status_code == 303 and client.get("/clinic").status_code == 303  # signed out

    def test_a_hospital_scoped_clinician_gets_the_page_and_only_their_hospitals_lists(
        self, client, staff, handle
    ):
        """HZ-02: the on-call of the hospital holding a case is usually scoped to that hospital."""
        east = {"preferences": {"hospitals": ["h-east"]}}
        west = {"preferences": {"hospitals": ["h-west"]}}
        handle(submitted("case-e", risk_flags=["werewolf_sightings"], **east))
        handle(submitted("case-w", risk_flags=["werewolf_sightings"], **west))
        signed_in(client, staff, "dr-east-only", "clinician", ("h-east",))
        page = client.get("/clinic")
        assert page.status_code == 200 and b'<table id="tasks">' in page.data
        queue = client.get("/v1/triage/queue").json
        assert [c["case_id"] for c in queue["items"]] == ["case-e"] and queue["total"] == 1
        reviews = client.get("/v1/triage/reviews").json["items"]
        assert [c["case_id"] for c in reviews] == ["case-e"]
        assert client.get("/v1/cases/case-e/triage").status_code == 200
        assert client.get("/v1/cases/case-w/triage").status_code == 404  # existence not revealed
        regional = token("clinician")
        everyone = client.get("/v1/triage/reviews", headers=regional).json["items"]
        assert sorted(c["case_id"] for c in everyone) == ["case-e", "case-w"]


class TestWritesFromThePage:
    def escalate(self, client, handle_db) -> dict:
        handle, db = handle_db
        handle(submitted(risk_flags=["self_harm"]))
        (escalated,) = outbox(db, "assessment.escalated")
        handle(Event.from_dict(escalated))
        (task,) = db.tasks.find()
        return task

    @pytest.fixture
    def handle_db(self, handle, db):
        return handle, db

    def test_the_owner_acknowledges_and_completes_on_the_session_with_its_csrf_token(
        self, client, staff, handle_db
    ):
        task = self.escalate(client, handle_db)
        assert task["owner"] == "dr-east"
        csrf = signed_in(client, staff, "dr-east", "clinician")
        path = f"/v1/tasks/{task['_id']}"
        assert client.post(f"{path}/acknowledge", json={}, headers=ORIGIN).status_code == 403  # no CSRF
        mine = client.get("/v1/tasks?state=requested").json["items"]
        assert [t["id"] for t in mine] == [task["_id"]]
        headers = {**ORIGIN, "X-CSRF-Token": csrf}
        assert client.post(f"{path}/acknowledge", json={}, headers=headers).json["status"] == "accepted"
        bad = client.post(f"{path}/complete", json={"outcome": "made_up"}, headers=headers)
        assert bad.status_code == 422
        done = client.post(f"{path}/complete", json={"outcome": "unable_to_reach"}, headers=headers)
        assert done.status_code == 200 and done.json["status"] == "completed"
        assert client.get("/v1/tasks?state=acknowledged").json["items"] == []


class TestReviewList:
    def test_only_active_cases_needing_review_oldest_referral_first_in_keyset_pages(self, client, handle):
        for n, day in enumerate(["2025-03-07", "2025-03-05", "2025-03-05", "2025-03-06"]):
            handle(submitted(f"case-r{n}", referred_on=day, risk_flags=["werewolf_sightings"]))
        handle(submitted("case-plain"))  # nothing to review
        clinician = token("clinician")
        first = client.get("/v1/triage/reviews?limit=3", headers=clinician).json
        assert [c["case_id"] for c in first["items"]] == ["case-r1", "case-r2", "case-r3"]
        assert all(c["needs_review"] for c in first["items"])
        rest = client.get(f"/v1/triage/reviews?limit=3&cursor={first['next_cursor']}", headers=clinician).json
        assert [c["case_id"] for c in rest["items"]] == ["case-r0"] and rest["next_cursor"] is None

    def test_clinicians_only_and_a_cursor_must_be_one_the_list_gave(self, client):
        assert client.get("/v1/triage/reviews").status_code == 401
        assert client.get("/v1/triage/reviews", headers=token("scheduler")).status_code == 403
        forged = client.get("/v1/triage/reviews?cursor=bm90LWpzb24", headers=token("clinician"))
        assert forged.status_code == 422
