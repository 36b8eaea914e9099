"""HZ-13 (docs/clinical-safety.md): consent scopes enforced; the school sees coarse statuses only."""

from __future__ import annotations

import copy

from tests.unit.referral.conftest import VALID, incoming, outbox_events, referral

SHARE = ["referral", "share_with_hospitals", "contact_by_sms"]


def with_scopes(scopes: list[str], **changes) -> dict:
    body = referral(**changes)
    body["guardians"][0]["consent"]["scope"] = scopes
    return body


def handle(service, event) -> None:
    service.handlers[event.name](event)


def school_view(client, headers, case_id) -> dict:
    return client.get(f"/v1/referrals/{case_id}", headers=headers).json


class TestShareWithHospitals:
    def test_without_share_consent_the_family_must_name_its_hospitals(self, client, school_a, db):
        """The hazard: no preferred hospital and no share consent pooled the case region-wide."""
        prefs = {**VALID["preferences"], "hospitals": []}
        response = client.post(
            "/v1/referrals", json=with_scopes(["referral"], preferences=prefs), headers=school_a
        )
        assert response.status_code == 422
        [message] = response.json["error"]["fields"]["preferences.hospitals"]
        assert "share_with_hospitals" in message
        assert db.cases.count_documents({}) == 0

    def test_with_share_consent_any_hospital_may_see_the_case(self, client, school_a):
        prefs = {**VALID["preferences"], "hospitals": []}
        response = client.post("/v1/referrals", json=with_scopes(SHARE, preferences=prefs), headers=school_a)
        assert response.status_code == 201

    def test_an_amendment_cannot_drop_the_hospitals_without_share_consent(self, client, school_a, submit):
        case_id = submit(with_scopes(["referral"]))
        prefs = {**VALID["preferences"], "hospitals": []}
        response = client.patch(f"/v1/referrals/{case_id}", json={"preferences": prefs}, headers=school_a)
        assert response.status_code == 422 and "preferences.hospitals" in response.json["error"]["fields"]

    def test_the_consent_scopes_travel_on_the_events(self, submit, db):
        submit(with_scopes(["referral", "questionnaires"]))
        [submitted] = outbox_events(db, "referral.submitted")
        assert submitted["data"]["consent_scopes"] == ["questionnaires", "referral"]


def pathway(service, case_id: str) -> None:
    events = [
        incoming("assessment.triaged", case_id, "/services/assessment", band="P3", target_days=90),
        incoming("waitlist.entry_added", case_id, band="P3", target_date="2025-06-09", hospitals=["bch"]),
        incoming(
            "waitlist.offer_made",
            case_id,
            offer_id="o1",
            hospital_id="bch",
            kind="intake",
            slot_start="2025-03-20T09:00:00Z",
        ),
        incoming(
            "appointment.booked",
            case_id,
            appointment_id="a1",
            hospital_id="bch",
            kind="intake",
            start="2025-03-20T09:00:00Z",
            end="2025-03-20T09:30:00Z",
        ),
        # the child's questionnaire raises the band: the school must never learn of it
        incoming("assessment.triaged", case_id, "/services/assessment", band="P1", target_days=7),
        incoming(
            "appointment.no_show",
            case_id,
            appointment_id="a1",
            hospital_id="bch",
            kind="intake",
            start="2025-03-20T09:00:00Z",
        ),
        incoming(
            "appointment.booked",
            case_id,
            appointment_id="a2",
            hospital_id="bch",
            kind="intake",
            start="2025-03-22T09:00:00Z",
            end="2025-03-22T09:30:00Z",
        ),
        incoming(
            "appointment.attended",
            case_id,
            appointment_id="a2",
            hospital_id="bch",
            kind="intake",
            start="2025-03-22T09:00:00Z",
        ),
        incoming("returnplan.updated", case_id, "/services/assessment", weeks=[]),
        incoming("followup.relapse_detected", case_id, "/services/assessment", weeks_below=["2025-04-07"]),
        incoming("followup.discharged", case_id, "/services/assessment", reason="goals_met"),
    ]
    for event in events:
        handle(service, event)


class TestSchoolTimelineIsCoarse:
    def test_the_school_sees_coarse_statuses_and_never_a_band(self, service, client, school_a, submit):
        """The hazard: the timeline showed every re-triage with its band (P3 → P1 after a disclosure)."""
        case_id = submit(with_scopes(["referral"]))
        pathway(service, case_id)
        case = school_view(client, school_a, case_id)
        assert [(e["kind"], e["status"]) for e in case["timeline"]] == [
            ("received", "received"),
            ("accepted", "accepted"),
            ("appointment_booked", "appointment_booked"),
            ("attended", "attended"),
            ("discharged", "discharged"),
        ]
        text = str(case["timeline"])
        assert "P1" not in text and "band" not in text and "relapse" not in text and "no_show" not in text
        assert all(e["detail"] == {} for e in case["timeline"][1:])
        assert case["school_status"] == "discharged"

    def test_with_school_liaison_the_school_also_sees_times_and_missed_appointments(
        self, service, client, school_a, submit
    ):
        case_id = submit(with_scopes(["referral", "school_liaison"]))
        pathway(service, case_id)
        timeline = school_view(client, school_a, case_id)["timeline"]
        kinds = [e["kind"] for e in timeline]
        assert kinds == ["received", "accepted", "appointment_booked", "no_show", "appointment_booked",
                         "attended", "discharged"]  # fmt: skip
        assert timeline[2]["detail"] == {"hospital_id": "bch", "start": "2025-03-20T09:00:00Z"}
        assert "P1" not in str(timeline) and "band" not in str(timeline)

    def test_the_schools_own_actions_stay_on_its_timeline(self, client, school_a, submit):
        case_id = submit()
        body = {"absence": copy.deepcopy(VALID["absence"])}
        assert client.patch(f"/v1/referrals/{case_id}", json=body, headers=school_a).status_code == 200
        kinds = [e["kind"] for e in school_view(client, school_a, case_id)["timeline"]]
        assert kinds == ["received", "amended"]
