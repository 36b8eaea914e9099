"""The FHIR export is a valid R4 ServiceRequest (checked with fhir.resources; R4B's ServiceRequest
is unchanged from R4)."""

from __future__ import annotations

from fhir.resources.R4B.servicerequest import ServiceRequest

from tests.unit.referral.conftest import referral


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
