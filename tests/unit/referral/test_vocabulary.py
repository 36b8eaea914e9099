"""HZ-06 (docs/clinical-safety.md): a code outside the published vocabulary is refused, naming the allowed codes."""

from __future__ import annotations

from services.referral.domain import vocabulary as vocab
from tests.unit.referral.conftest import outbox_events, referral


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
    risks = {**referral()["risk_indicators"], "werewolf_sightings": True}
    fields = refused(client, school_a, referral(risk_indicators=risks))
    [message] = fields["risk_indicators.werewolf_sightings"]
    assert all(code in message for code in vocab.RISK_FLAGS), message
    assert db.cases.count_documents({}) == 0


def test_the_new_risk_questions_are_accepted_and_published(client, school_a, db):
    """HZ-07: a school can say what it saw (recent attempt, safeguarding, psychosis, ...)."""
    risks = {**referral()["risk_indicators"], "safeguarding_disclosure": True, "harm_to_others": False}
    response = client.post("/v1/referrals", json=referral(risk_indicators=risks), headers=school_a)
    assert response.status_code == 201, response.json
    [change] = outbox_events(db, "referral.submitted")
    assert "safeguarding_disclosure" in change["data"]["risk_flags"]
    assert "harm_to_others" not in change["data"]["risk_flags"]
