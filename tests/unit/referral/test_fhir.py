"""The FHIR exports are valid R4 (checked with fhir.resources; R4B's ServiceRequest and
EpisodeOfCare are unchanged from R4): the referral as a ServiceRequest, the case as an EpisodeOfCare."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.episodeofcare import EpisodeOfCare
from fhir.resources.R4B.servicerequest import ServiceRequest

from services.referral.domain import status as st
from services.referral.fhir import EPISODE_STATUS, episode_of_care
from tests.unit.referral.conftest import incoming, referral


def test_export_is_a_valid_service_request(client, school_a, submit):
    case_id = submit()
    response = client.get(f"/v1/referrals/{case_id}/fhir", headers=school_a)
    assert response.status_code == 200
    assert response.mimetype == "application/fhir+json"
    resource = ServiceRequest.model_validate(response.json)
    assert resource.status == "active" and resource.intent == "order"
    assert resource.priority == "urgent"  # not_eating was reported
    assert resource.subject.reference == "#child"
    patient = next(c for c in response.json["contained"] if c["resourceType"] == "Patient")
    assert patient["birthDate"] == "2012-05-03"
    assert [c.coding[0].code for c in resource.reasonCode] == ["anxiety", "somatic_complaints"]
    assert resource.identifier[0].value == case_id


def test_withdrawn_case_is_revoked_and_calm_case_routine(client, school_a, submit):
    calm = referral(risk_indicators={"self_harm": False, "suicidal_talk": False, "not_eating": False})
    case_id = submit(calm)
    client.post(f"/v1/referrals/{case_id}/withdraw", json={"reason": "returned_to_school"}, headers=school_a)
    resource = ServiceRequest.model_validate(
        client.get(f"/v1/referrals/{case_id}/fhir", headers=school_a).json
    )
    assert resource.status == "revoked" and resource.priority == "routine"


class TestEpisodeOfCare:
    """The case from referral to discharge as a valid R4 EpisodeOfCare (R4B's is R4's)."""

    @staticmethod
    def case(status: str, timeline: list[tuple[str, str, str]]) -> dict:
        return {
            "_id": "case-1",
            "school_id": "school-a",
            "status": status,
            "submitted_at": datetime(2025, 3, 12, 9, 0, tzinfo=UTC),
            "updated_at": datetime(2025, 6, 30, 8, 0, tzinfo=UTC),
            "timeline": [{"kind": k, "at": at, "status": s, "detail": {}} for k, at, s in timeline],
        }

    PATHWAY = [
        ("submitted", "2025-03-12T09:00:00.000Z", "submitted"),
        ("triaged", "2025-03-12T09:00:02.120Z", "triaged"),
        ("waitlisted", "2025-03-12T09:00:03.000Z", "waitlisted"),
        ("amended", "2025-03-13T10:00:00.000Z", "waitlisted"),
        ("booked", "2025-03-14T08:00:00Z", "booked"),
        ("attended", "2025-03-20T09:45:00Z", "seen"),
        ("return_plan_updated", "2025-03-21T10:00:00Z", "in_follow_up"),
        ("relapse_detected", "2025-04-08T10:00:00Z", None),
        ("discharged", "2025-06-30T08:00:00+00:00", "discharged"),
    ]

    def test_a_discharged_case_is_a_finished_episode_from_submission_to_discharge(self):
        resource = EpisodeOfCare.model_validate(
            episode_of_care(self.case("discharged", self.PATHWAY), referral())
        )
        assert resource.status == "finished"
        assert resource.period.start.isoformat() == "2025-03-12T09:00:00+00:00"
        assert resource.period.end.isoformat() == "2025-06-30T08:00:00+00:00"
        history = [
            (h.status, h.period.start.isoformat()[:10], h.period.end.isoformat()[:10])
            for h in resource.statusHistory
        ]
        assert history == [
            ("planned", "2025-03-12", "2025-03-12"),
            ("waitlist", "2025-03-12", "2025-03-20"),
            ("active", "2025-03-20", "2025-06-30"),
        ]
        assert resource.patient.reference == "#child"
        assert resource.referralRequest[0].reference == "ServiceRequest/case-1"
        assert resource.identifier[0].value == "case-1"

    @pytest.mark.parametrize(
        ("status", "expected"),
        [
            ("submitted", "planned"),
            ("awaiting_review", "planned"),
            ("information_requested", "onhold"),
            ("triaged", "planned"),
            ("waitlisted", "waitlist"),
            ("offered", "waitlist"),
            ("booked", "waitlist"),
            ("seen", "active"),
            ("in_follow_up", "active"),
            ("discharged", "finished"),
            ("withdrawn", "cancelled"),
            ("rejected", "cancelled"),
            ("redirected", "cancelled"),
        ],
    )
    def test_every_case_status_maps_to_an_episode_status(self, status, expected):
        timeline = [("submitted", "2025-03-12T09:00:00.000Z", "submitted")]
        if status != "submitted":
            timeline.append((status, "2025-03-13T09:00:00.000Z", status))
        resource = EpisodeOfCare.model_validate(episode_of_care(self.case(status, timeline), referral()))
        assert resource.status == expected
        closed = status in ("discharged", "withdrawn", "rejected", "redirected")
        assert (resource.period.end is not None) == closed

    def test_every_case_status_has_a_decided_episode_status(self):
        """A status added to the pathway (review, rejection, …) must be mapped here, not fall through."""
        assert set(EPISODE_STATUS) == set(st.STATUSES)

    def test_the_route_follows_the_case_and_answers_only_its_school(
        self, service, client, school_a, school_b, submit
    ):
        case_id = submit()
        path = f"/v1/referrals/{case_id}/episode-of-care/fhir"
        first = client.get(path, headers=school_a)
        assert first.status_code == 200 and first.mimetype == "application/fhir+json"
        assert EpisodeOfCare.model_validate(first.json).status == "planned"
        for name, data in [
            ("waitlist.entry_added", {"band": "P2", "target_date": "2025-04-09", "hospitals": ["bch"]}),
            ("appointment.attended", {"appointment_id": "a1", "hospital_id": "bch", "kind": "intake"}),
            ("followup.discharged", {"reason": "goals_met"}),
        ]:
            event = incoming(name, case_id, **data)
            service.handlers[event.name](event)
        resource = EpisodeOfCare.model_validate(client.get(path, headers=school_a).json)
        assert resource.status == "finished" and resource.period.end is not None
        assert [h.status for h in resource.statusHistory] == ["planned", "waitlist", "active"]
        assert client.get(path, headers=school_b).status_code == 404  # another school's case is not revealed
        assert client.get(path).status_code == 401
        assert client.get("/v1/referrals/nope/episode-of-care/fhir", headers=school_a).status_code == 404
