"""Questionnaire links: the guardian's (intake booking, parent forms only) and the young person's own (HZ-04)."""

from __future__ import annotations

from typing import Any

import pytest

from services.assessment import catalogue
from services.assessment.config import AssessmentConfig
from services.assessment.questionnaires import (
    INVITATIONS,
    SUBMISSIONS,
    ConfidentialItemOnGuardianPage,
    invitation_id_for,
)
from shared.auth import StaffTokens
from shared.contracts.registry import read

from .conftest import SECRET, event, outbox, submitted

START = "2025-03-20T01:00:00Z"
PHQ_A = {str(i): 0 for i in range(1, 10)}
GAD_7 = {str(i): 0 for i in range(1, 8)}
ASQ = {str(i): 0 for i in range(1, 5)}
SDQ = {str(i): 0 for i in range(1, 26)}
RCADS = {str(i): 0 for i in range(1, 48)}
SRAS = {str(i): 0 for i in range(1, 25)}


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


INSTRUMENTS = catalogue.load_instruments(AssessmentConfig())
PARENT_FORMS = {"ASSESSMENT_LICENSED_INSTRUMENTS": "sras-r,sdq,rcads-47"}


@pytest.fixture
def licensed(settings, db, clock):
    """The network holds licences for every instrument with a parent form."""
    from services.assessment.bootstrap import build

    return build(settings.but(extra=PARENT_FORMS), db=db, clock=clock)


@pytest.fixture
def guardian_handle(licensed):
    return lambda e: licensed.handlers[e.name](e)


@pytest.fixture
def guardian_client(licensed):
    return licensed.app.test_client()


@pytest.fixture
def guardian_invited(guardian_handle, db) -> dict[str, Any]:
    guardian_handle(submitted())
    guardian_handle(booked())
    return invitation(db)


def young_person_link(client, clinician, case_id: str = "case-1", **body: Any):
    return client.post(
        f"/v1/cases/{case_id}/questionnaires",
        json={"addressed_to": "young_person", **body},
        headers=clinician,
    )


@pytest.fixture
def invited(client, clinician, handle, db) -> dict[str, Any]:
    """The young person's own link (PHQ-A and GAD-7), created by a clinician to hand over."""
    handle(submitted())
    response = young_person_link(client, clinician)
    assert response.status_code == 201, response.json
    return db[INVITATIONS].find_one({"_id": response.json["invitation_id"]})


class TestHz04GuardianLinkNeverCarriesSuicideItems:
    def test_an_intake_booking_never_sends_the_phq_a_to_the_guardian(self, handle, db):
        """The hazard: PHQ-A items 9, 12, 13 were on the guardian-addressed link."""
        handle(submitted())
        handle(booked())
        assert db[INVITATIONS].count_documents({}) == 0  # no parent form is licensed: nothing to send
        assert requested(db) == []

    def test_with_every_parent_form_licensed_the_guardian_gets_only_parent_forms(self, guardian_handle, db):
        guardian_handle(submitted(risk_flags=["self_harm"]))
        guardian_handle(booked())
        doc = invitation(db)
        assert doc["addressed_to"] == "guardian"
        assert doc["instruments"] == ["sdq", "rcads-47", "sras-r"]  # never phq-a, gad-7 or the asq

    def test_the_guardian_page_refuses_to_render_a_confidential_item(
        self, guardian_invited, db, guardian_client
    ):
        """Defence in depth: even a corrupted guardian invitation never shows a suicide item."""
        db[INVITATIONS].update_one({"_id": guardian_invited["_id"]}, {"$set": {"instruments": ["phq-a"]}})
        response = guardian_client.get(f"/v1/questionnaire-responses/{guardian_invited['token']}?lang=en")
        assert response.status_code == 500
        assert "dead" not in response.get_data(as_text=True).lower()
        from services.assessment.questionnaires import GUARDIAN, page_view

        with pytest.raises(ConfidentialItemOnGuardianPage):
            page_view(INSTRUMENTS["phq-a"], GUARDIAN, "en")

    def test_the_guardian_answers_are_recorded_as_the_parent(self, guardian_invited, guardian_client, db):
        body = {"sdq": SDQ, "rcads-47": RCADS, "sras-r": SRAS}
        response = guardian_client.post(f"/v1/questionnaire-responses/{guardian_invited['token']}", json=body)
        assert response.status_code == 201, response.json
        admins = db.cases.find_one({"_id": "case-1"})["administrations"]
        assert {a["informant"] for a in admins} == {"parent"}
        assert admins[0]["by"] == f"guardian:{guardian_invited['_id']}"

    @pytest.mark.parametrize(
        ("age", "expected"),
        [(9, None), (10, None), (11, ["phq-a", "gad-7"]), (15, ["phq-a", "gad-7"]), (17, None), (18, None)],
    )
    def test_the_young_person_link_is_gated_by_validated_age(self, client, clinician, handle, age, expected):
        """PHQ-A only 11-17: a 17-year-old referred last week may be 18 by now, so no link."""
        handle(submitted(age_years=age, referred_on="2025-03-03"))
        response = young_person_link(client, clinician)
        if expected is None:
            assert response.status_code == 422 and response.json["error"]["code"] == "no_instrument_fits"
        else:
            assert response.status_code == 201 and response.json["instruments"] == expected

    def test_old_cases_without_age_years_fit_only_when_the_whole_band_does(self, client, clinician, handle):
        handle(submitted(age_band="9-11"))
        assert young_person_link(client, clinician).status_code == 422
        handle(submitted("case-2", age_band="12-14"))
        assert young_person_link(client, clinician, "case-2").status_code == 201

    def test_the_young_person_link_sends_nothing_and_the_service_route_does_not_know_it(
        self, client, invited, db
    ):
        assert requested(db) == []  # no event: nothing goes to the guardian's channel
        assert invited["addressed_to"] == "young_person"
        answer = client.get(f"/v1/questionnaires/{invited['_id']}/link", headers=service_token())
        assert answer.status_code == 404
        assert invited["token"] not in answer.get_data(as_text=True)

    def test_the_young_person_link_needs_a_clinician(self, client, handle):
        handle(submitted())
        assert young_person_link(client, service_token()).status_code == 403
        assert young_person_link(client, {}).status_code == 401

    def test_a_clinician_cannot_record_an_instrument_for_a_child_certainly_outside_its_ages(
        self, client, clinician, handle
    ):
        handle(submitted(age_years=7))
        response = client.post(
            "/v1/cases/case-1/instruments/phq-a/responses",
            json={"informant": "child", "responses": PHQ_A},
            headers=clinician,
        )
        assert response.status_code == 422 and "instrument" in response.json["error"]["fields"]

    def test_every_shipped_instrument_names_its_validated_ages(self):
        from services.assessment import catalogue
        from services.assessment.config import AssessmentConfig

        found = catalogue.load_instruments(AssessmentConfig())
        assert found["phq-a"].age_range("child") == (11, 17)
        assert found["sdq"].age_range("child") == (11, 17) and found["sdq"].age_range("parent") == (4, 17)
        assert all(i.ages for i in found.values())
        assert set(found["phq-a"].confidential_items()) == {"9", "12", "13"}


class TestHz13QuestionnaireConsent:
    def test_no_guardian_invitation_without_questionnaires_consent(self, guardian_handle, db):
        guardian_handle(submitted(consent_scopes=["referral", "share_with_hospitals"]))
        guardian_handle(booked())
        assert db[INVITATIONS].count_documents({}) == 0 and requested(db) == []

    def test_an_old_event_without_consent_scopes_invites_nobody(self, guardian_handle, db):
        guardian_handle(submitted(consent_scopes=None))
        guardian_handle(booked())
        assert db[INVITATIONS].count_documents({}) == 0

    def test_no_young_person_link_without_questionnaires_consent(self, client, clinician, handle, db):
        handle(submitted(consent_scopes=["referral"]))
        response = young_person_link(client, clinician)
        assert response.status_code == 403 and response.json["error"]["code"] == "consent_required"
        assert db[INVITATIONS].count_documents({}) == 0


class TestCrisisResources:
    def test_the_page_marks_risk_answers_and_carries_the_regions_crisis_lines(self, client, invited):
        body = client.get(f"/v1/questionnaire-responses/{invited['token']}?lang=en").json
        phq = body["instruments"][0]
        risk = {item["id"]: item["risk_values"] for item in phq["items"] if item["risk_values"]}
        assert risk == {"9": [1, 2, 3, 9], "12": [1], "13": [1]}
        assert body["crisis"]["region"] == "default" and body["crisis"]["lines"]

    def test_a_risk_answer_returns_crisis_resources_and_escalates(self, client, db, invited):
        body = {"phq-a": {**PHQ_A, "12": 1}, "gad-7": GAD_7}
        response = client.post(f"/v1/questionnaire-responses/{invited['token']}", json=body)
        assert response.status_code == 201
        assert "120" in {line["phone"] for line in response.json["crisis"]["lines"]}
        [escalated] = outbox(db, "assessment.escalated")
        assert escalated["data"]["reasons"] == ["phq_a_recent_suicidal_thoughts"]

    def test_no_risk_answer_no_crisis_block(self, client, invited):
        response = client.post(
            f"/v1/questionnaire-responses/{invited['token']}", json={"phq-a": PHQ_A, "gad-7": GAD_7}
        )
        assert response.status_code == 201 and "crisis" not in response.json

    def test_resources_are_per_region_in_chinese_and_english(self, tmp_path):
        import json

        from services.assessment.crisis import CrisisResources, CrisisResourcesError

        default = CrisisResources.load().regions["default"]
        east = {
            **default,
            "districts": ["east"],
            "en": {**default["en"], "lines": [{"name": "East", "phone": "1"}]},
        }
        path = tmp_path / "crisis.json"
        path.write_text(json.dumps({"regions": {"default": default, "east-region": east}}))
        resources = CrisisResources.load(path)
        assert resources.for_case("east", "en")["lines"] == [{"name": "East", "phone": "1"}]
        assert resources.for_case("north", "zh-CN")["title"] == default["zh-CN"]["title"]
        path.write_text(json.dumps({"regions": {"default": {"en": default["en"]}}}))
        with pytest.raises(CrisisResourcesError, match="zh-CN"):
            CrisisResources.load(path)


class TestChinesePage:
    def test_a_chinese_speaking_family_gets_the_page_in_chinese(self, client, invited):
        body = client.get(f"/v1/questionnaire-responses/{invited['token']}").json  # preference zh-CN
        assert body["language"] == "zh-CN"
        phq = body["instruments"][0]
        assert phq["name"].startswith("青少年") and phq["items"][0]["options"][0]["label"] == "完全不会"
        assert body["crisis"]["language"] == "zh-CN" and "谢谢" in body["crisis"]["text"]
        english = client.get(f"/v1/questionnaire-responses/{invited['token']}?lang=en").json
        assert (
            english["language"] == "en"
            and english["instruments"][0]["items"][0]["options"][0]["label"] == "Not at all"
        )


class TestInvitation:
    def test_intake_booking_invites_once_with_the_parent_forms_due_by_the_start(self, guardian_handle, db):
        guardian_handle(submitted())
        e = booked()
        guardian_handle(e)
        guardian_handle(e)  # redelivered
        guardian_handle(booked())  # the same booking, re-published under a new event id
        doc = invitation(db)
        assert doc["_id"] == invitation_id_for("case-1", "appt-1")
        assert doc["instruments"] == ["sdq", "rcads-47", "sras-r"] and doc["state"] == "open"
        assert len(doc["token"]) >= 40
        [data] = requested(db)
        assert data["invitation_id"] == doc["_id"] and data["instruments"] == doc["instruments"]
        assert data["due_by"].isoformat() == "2025-03-20T01:00:00+00:00"

    def test_the_asq_is_never_sent_by_link_even_with_a_risk_flag(self, client, clinician, handle, db):
        """The ASQ is asked of the young person directly, without a parent: a clinic screen."""
        handle(submitted(risk_flags=["self_harm"]))
        assert young_person_link(client, clinician).json["instruments"] == ["phq-a", "gad-7"]

    def test_the_token_never_travels_on_the_bus(self, guardian_handle, db):
        guardian_handle(submitted())
        guardian_handle(booked())
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

    def test_another_booking_is_another_invitation(self, guardian_handle, db):
        guardian_handle(submitted())
        guardian_handle(booked(appointment_id="appt-1"))
        guardian_handle(booked(appointment_id="appt-2"))
        assert db[INVITATIONS].count_documents({}) == 2


class TestLinkRoute:
    def test_the_service_gets_the_guardian_link(self, guardian_client, guardian_invited):
        invited = guardian_invited
        response = guardian_client.get(f"/v1/questionnaires/{invited['_id']}/link", headers=service_token())
        assert response.status_code == 200
        assert response.json == {
            "invitation_id": invited["_id"],
            "url": f"http://127.0.0.1:8000/q/{invited['token']}",
        }

    def test_public_base_url_is_configurable(self, settings, db, clock):
        from services.assessment.bootstrap import build

        extra = {**PARENT_FORMS, "ASSESSMENT_PUBLIC_BASE_URL": "https://forms.waymark.example/"}
        service = build(settings.but(extra=extra), db=db, clock=clock)
        service.handlers["referral.submitted"](submitted())
        service.handlers["appointment.booked"](booked())
        doc = invitation(db)
        answer = service.app.test_client().get(
            f"/v1/questionnaires/{doc['_id']}/link", headers=service_token()
        )
        assert answer.json["url"] == f"https://forms.waymark.example/q/{doc['token']}"

    @pytest.mark.parametrize(("headers", "status"), [({}, 401), (None, 403)])
    def test_needs_a_service_token(self, guardian_client, clinician, guardian_invited, headers, status):
        client, invited = guardian_client, guardian_invited
        response = client.get(
            f"/v1/questionnaires/{invited['_id']}/link", headers=clinician if headers is None else headers
        )
        assert response.status_code == status
        assert invited["token"] not in response.get_data(as_text=True)

    def test_unknown_invitation_is_404_and_answered_is_410(self, guardian_client, guardian_invited):
        client, invited = guardian_client, guardian_invited
        assert client.get("/v1/questionnaires/qi_nope/link", headers=service_token()).status_code == 404
        body = {"sdq": SDQ, "rcads-47": RCADS, "sras-r": SRAS}
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
        body = client.get(f"/v1/questionnaire-responses/{invited['token']}?lang=en").json
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
        assert admins[0]["by"] == f"young_person:{invited['_id']}"
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
        page = client.get(f"/v1/questionnaire-responses/{invited['token']}?lang=en").json
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
