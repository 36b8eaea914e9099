"""Guardian questionnaires: one invitation per intake booking, the link route, the page, scored answers."""

from __future__ import annotations

from typing import Any

import pytest

from services.assessment.questionnaires import INVITATIONS, SUBMISSIONS, invitation_id_for
from shared.auth import StaffTokens
from shared.contracts.registry import read

from .conftest import SECRET, event, outbox, submitted

START = "2025-03-20T01:00:00Z"
PHQ_A = {str(i): 0 for i in range(1, 10)}
GAD_7 = {str(i): 0 for i in range(1, 8)}
ASQ = {str(i): 0 for i in range(1, 5)}


def booked(case_id: str = "case-1", appointment_id: str = "appt-1", kind: str = "intake", **extra: Any):
    data = {
        "case_id": case_id, "appointment_id": appointment_id, "hospital_id": "h-east",
        "start": START, "end": "2025-03-20T02:00:00Z", "kind": kind, **extra,
    }  # fmt: skip
    return event("appointment.booked", case_id, data, source="/services/scheduling")


def requested(db) -> list[dict[str, Any]]:
    found = [e for d in db[INVITATIONS].find({}, {"outbox": 1}) for e in d.get("outbox", [])]
    return [read("assessment.questionnaire_requested", e["data"]) for e in found]


def invitation(db) -> dict[str, Any]:
    [found] = list(db[INVITATIONS].find())
    return found


def service_token(role: str = "service") -> dict[str, str]:
    return {"Authorization": f"Bearer {StaffTokens(SECRET).issue('notification', role)}"}


@pytest.fixture
def invited(handle, db) -> dict[str, Any]:
    handle(submitted())
    handle(booked())
    return invitation(db)


class TestInvitation:
    def test_intake_booking_invites_once_with_the_free_instruments_due_by_the_start(self, handle, db):
        handle(submitted())
        e = booked()
        handle(e)
        handle(e)  # redelivered
        handle(booked())  # the same booking, re-published under a new event id
        doc = invitation(db)
        assert doc["_id"] == invitation_id_for("case-1", "appt-1")
        assert doc["instruments"] == ["phq-a", "gad-7"] and doc["state"] == "open"
        assert len(doc["token"]) >= 40
        [data] = requested(db)
        assert data["invitation_id"] == doc["_id"] and data["instruments"] == ["phq-a", "gad-7"]
        assert data["due_by"].isoformat() == "2025-03-20T01:00:00+00:00"

    def test_the_asq_is_never_sent_by_link_even_with_a_risk_flag(self, handle, db):
        """The ASQ is asked of the young person directly, without a parent: a clinic screen."""
        handle(submitted(risk_flags=["self_harm"]))
        handle(booked())
        assert invitation(db)["instruments"] == ["phq-a", "gad-7"]

    def test_the_token_never_travels_on_the_bus(self, handle, db):
        handle(submitted())
        handle(booked())
        token = invitation(db)["token"]
        [e] = [e for d in db[INVITATIONS].find() for e in d["outbox"]]
        assert set(e["data"]) == {"case_id", "invitation_id", "instruments", "due_by"}
        assert token not in str(e)

    def test_follow_up_bookings_withdrawn_and_unknown_cases_invite_nobody(self, handle, db):
        handle(booked("nobody"))  # unknown case: logged, nothing to retry
        handle(submitted())
        handle(booked(kind="follow_up"))
        handle(submitted("case-2"))
        handle(event("referral.withdrawn", "case-2", {"case_id": "case-2", "reason": "moved"}))
        handle(booked("case-2"))
        assert db[INVITATIONS].count_documents({}) == 0

    def test_another_booking_is_another_invitation(self, handle, db):
        handle(submitted())
        handle(booked(appointment_id="appt-1"))
        handle(booked(appointment_id="appt-2"))
        assert db[INVITATIONS].count_documents({}) == 2


class TestLinkRoute:
    def test_the_service_gets_the_guardian_link(self, client, invited):
        response = client.get(f"/v1/questionnaires/{invited['_id']}/link", headers=service_token())
        assert response.status_code == 200
        assert response.json == {
            "invitation_id": invited["_id"],
            "url": f"http://127.0.0.1:8000/q/{invited['token']}",
        }

    def test_public_base_url_is_configurable(self, settings, db, clock):
        from services.assessment.bootstrap import build

        extra = {"ASSESSMENT_PUBLIC_BASE_URL": "https://forms.waymark.example/"}
        service = build(settings.but(extra=extra), db=db, clock=clock)
        service.handlers["referral.submitted"](submitted())
        service.handlers["appointment.booked"](booked())
        doc = invitation(db)
        answer = service.app.test_client().get(
            f"/v1/questionnaires/{doc['_id']}/link", headers=service_token()
        )
        assert answer.json["url"] == f"https://forms.waymark.example/q/{doc['token']}"

    @pytest.mark.parametrize(("headers", "status"), [({}, 401), (None, 403)])
    def test_needs_a_service_token(self, client, clinician, invited, headers, status):
        response = client.get(
            f"/v1/questionnaires/{invited['_id']}/link", headers=clinician if headers is None else headers
        )
        assert response.status_code == status
        assert invited["token"] not in response.get_data(as_text=True)

    def test_unknown_invitation_is_404_and_answered_is_410(self, client, invited):
        assert client.get("/v1/questionnaires/qi_nope/link", headers=service_token()).status_code == 404
        body = {"phq-a": PHQ_A, "gad-7": GAD_7}
        assert client.post(f"/v1/questionnaire-responses/{invited['token']}", json=body).status_code == 201
        answer = client.get(f"/v1/questionnaires/{invited['_id']}/link", headers=service_token())
        assert answer.status_code == 410


class TestGuardianPage:
    def test_page_is_served_without_login_and_leaks_no_referrer(self, client, invited):
        response = client.get(f"/q/{invited['token']}")
        assert response.status_code == 200 and response.mimetype == "text/html"
        assert "/v1/questionnaire-responses/" in response.get_data(as_text=True)
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"

    def test_page_data_shows_only_the_invited_instruments(self, client, invited):
        body = client.get(f"/v1/questionnaire-responses/{invited['token']}").json
        assert [i["id"] for i in body["instruments"]] == ["phq-a", "gad-7"]
        phq = body["instruments"][0]
        assert phq["items"][8]["id"] == "9" and "dead" in phq["items"][8]["text"].lower()
        assert phq["items"][0]["options"][0] == {"value": 0, "label": "Not at all"}
        text = str(body)
        assert "Ask the patient" not in text  # the ASQ was not invited
        assert "cutoffs" not in text and "flags" not in text  # no scoring shown to families

    def test_unknown_token_is_404(self, client, invited):
        assert client.get("/v1/questionnaire-responses/not-a-token").status_code == 404
        assert (
            client.post("/v1/questionnaire-responses/not-a-token", json={"phq-a": PHQ_A}).status_code == 404
        )


class TestAnswers:
    def post(self, client, token: str, body: Any):
        return client.post(f"/v1/questionnaire-responses/{token}", json=body)

    def test_answers_are_scored_and_completed_like_the_clinicians(self, client, db, invited):
        response = self.post(client, invited["token"], {"phq-a": {**PHQ_A, "1": 2}, "gad-7": GAD_7})
        assert response.status_code == 201 and response.json["state"] == "submitted"
        assert "scores" not in response.json  # nothing clinical is shown back to the family
        admins = db.cases.find_one({"_id": "case-1"})["administrations"]
        assert [(a["instrument"], a["scores"]["total"], a["informant"]) for a in admins] == [
            ("phq-a", 2, "child"),
            ("gad-7", 0, "child"),
        ]
        assert admins[0]["by"] == f"guardian:{invited['_id']}"
        completed = [read("assessment.completed", e["data"]) for e in outbox(db, "assessment.completed")]
        assert [c["instrument"] for c in completed] == ["phq-a", "gad-7"]
        assert outbox(db, "assessment.escalated") == []
        assert invitation(db)["state"] == "submitted"

    def test_phq_a_item_9_escalates_and_lifts_the_case(self, client, db, invited):
        assert db.cases.find_one({"_id": "case-1"})["band"] != "P1"
        response = self.post(client, invited["token"], {"phq-a": {**PHQ_A, "9": 1}, "gad-7": GAD_7})
        assert response.status_code == 201
        [escalated] = outbox(db, "assessment.escalated")
        assert read("assessment.escalated", escalated["data"])["reasons"] == ["phq_a_item9_positive"]
        case = db.cases.find_one({"_id": "case-1"})
        assert case["band"] == "P1" and case["escalated"] is True
        assert case["escalations"][-1]["trigger"] == "instrument:phq-a#1"

    def test_a_declined_item_9_submits_and_asks_for_a_safety_follow_up(self, client, db, invited):
        """HZ-08: declining the suicide item never blocks the form and is never read as 'no'."""
        declined = next(o for o in self.page_item_9(client, invited) if o["label"] == "Prefer not to answer")
        body = {"phq-a": {**PHQ_A, "9": declined["value"]}, "gad-7": GAD_7}
        assert self.post(client, invited["token"], body).status_code == 201
        [escalated] = outbox(db, "assessment.escalated")
        assert escalated["data"]["reasons"] == ["phq_a_item9_declined"]
        assert db.cases.find_one({"_id": "case-1"})["administrations"][0]["declined"] == ["9"]

    @staticmethod
    def page_item_9(client, invited) -> list[dict[str, Any]]:
        page = client.get(f"/v1/questionnaire-responses/{invited['token']}").json
        phq = next(i for i in page["instruments"] if i["id"] == "phq-a")
        return next(item for item in phq["items"] if item["id"] == "9")["options"]

    def test_a_double_submit_records_once(self, client, db, invited):
        body = {"phq-a": PHQ_A, "gad-7": GAD_7}
        assert self.post(client, invited["token"], body).status_code == 201
        again = self.post(client, invited["token"], body)
        assert again.status_code == 409 and again.json["error"]["code"] == "already_submitted"
        assert len(db.cases.find_one({"_id": "case-1"})["administrations"]) == 2
        assert len(outbox(db, "assessment.completed")) == 2
        assert db[SUBMISSIONS].count_documents({}) == 1

    def test_a_racing_second_submit_loses_the_claim(self, client, db, invited):
        # Both read the invitation as open; the claim (a unique insert) decides.
        db[SUBMISSIONS].insert_one({"_id": invited["_id"]})
        response = self.post(client, invited["token"], {"phq-a": PHQ_A, "gad-7": GAD_7})
        assert response.status_code == 409
        assert db.cases.find_one({"_id": "case-1"})["administrations"] == []

    @pytest.mark.parametrize(
        ("body", "fields"),
        [
            ({"phq-a": {**PHQ_A, "9": 7}, "gad-7": GAD_7}, {"phq-a.9"}),
            ({"phq-a": {**PHQ_A, "9": "x"}, "gad-7": GAD_7}, {"phq-a.9"}),
            ({"phq-a": {k: v for k, v in PHQ_A.items() if k != "3"}, "gad-7": GAD_7}, {"phq-a.3"}),
            ({"phq-a": {**PHQ_A, "99": 0}, "gad-7": GAD_7}, {"phq-a.99"}),
            ({"phq-a": PHQ_A}, {"gad-7"}),
            ({"phq-a": PHQ_A, "gad-7": GAD_7, "asq": ASQ}, {"asq"}),  # never invited by link
            ({"phq-a": PHQ_A, "gad-7": "all fine"}, {"gad-7"}),
            ([1, 2], {"_body"}),
        ],
    )
    def test_answers_that_do_not_fit_are_422_naming_the_items(self, client, db, invited, body, fields):
        response = self.post(client, invited["token"], body)
        assert response.status_code == 422
        assert set(response.json["error"]["fields"]) == fields
        assert db.cases.find_one({"_id": "case-1"})["administrations"] == []
        assert db[SUBMISSIONS].count_documents({}) == 0  # a fixed answer can still be sent

    def test_a_withdrawn_case_takes_no_answers(self, client, handle, db, invited):
        handle(event("referral.withdrawn", "case-1", {"case_id": "case-1", "reason": "moved"}))
        response = self.post(client, invited["token"], {"phq-a": PHQ_A, "gad-7": GAD_7})
        assert response.status_code == 410
        assert db.cases.find_one({"_id": "case-1"})["administrations"] == []
