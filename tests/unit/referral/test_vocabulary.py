"""HZ-06 (docs/clinical-safety.md): a code outside the published vocabulary is refused, naming the allowed codes."""

from __future__ import annotations

from services.referral.domain import vocabulary as vocab
from tests.unit.referral.conftest import referral


def refused(client, headers, body) -> dict:
    response = client.post("/v1/referrals", json=body, headers=headers)
    assert response.status_code == 422, response.json
    return response.json["error"]["fields"]


def test_unknown_concern_names_the_field_and_the_allowed_codes(client, school_a, db):
    fields = refused(client, school_a, referral(concerns=["low_mood", "psychosis"]))
    [message] = fields["concerns.1"]
    assert all(code in message for code in vocab.CONCERNS)
    assert db.cases.count_documents({}) == 0


def test_unknown_risk_flag_names_the_field_and_the_allowed_codes(client, school_a, db):
    risks = {**referral()["risk_indicators"], "harm_to_others": True}
    fields = refused(client, school_a, referral(risk_indicators=risks))
    [message] = fields["risk_indicators.harm_to_others"]
    assert all(code in message for code in vocab.RISK_FLAGS), message
    assert db.cases.count_documents({}) == 0
