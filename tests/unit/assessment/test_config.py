"""ASSESSMENT_* configuration: parsed with safe defaults, refused when malformed, applied to triage."""

from __future__ import annotations

from datetime import date

import pytest

from services.assessment.bootstrap import build
from services.assessment.catalogue import load_rules
from services.assessment.config import AssessmentConfig, ConfigError
from services.assessment.domain import rules as rule_table
from services.assessment.domain.rules import RuleTableError
from services.assessment.domain.triage import triage
from services.assessment.intake import facts
from shared.auth import StaffTokens

from .conftest import SECRET, outbox, submitted


def test_defaults_when_nothing_is_set():
    config = AssessmentConfig.from_extra({})
    assert (config.target_days, config.licensed_instruments, config.relapse_weeks) == ({}, frozenset(), 2)


def test_values_are_parsed():
    config = AssessmentConfig.from_extra(
        {
            "ASSESSMENT_TARGET_DAYS": "P1:5, P3:120",
            "ASSESSMENT_CONTACT_HOURS": "default:12,self_harm:2",
            "ASSESSMENT_LICENSED_INSTRUMENTS": "SRAS-R, rcads-47",
            "ASSESSMENT_SRAS_TIE_MARGIN": "0.5",
            "ASSESSMENT_RELAPSE_WEEKS": "3",
        }
    )
    assert config.target_days == {"P1": 5, "P3": 120}
    assert config.contact_hours == {"default": 12, "self_harm": 2}
    assert config.licensed_instruments == {"sras-r", "rcads-47"}
    assert (config.sras_tie_margin, config.relapse_weeks) == (0.5, 3)


@pytest.mark.parametrize(
    "extra",
    [
        {"ASSESSMENT_TARGET_DAYS": "P1=7"},
        {"ASSESSMENT_CONTACT_HOURS": "x:-1"},
        {"ASSESSMENT_RELAPSE_WEEKS": "0"},
    ],
)
def test_malformed_values_stop_the_service(extra):
    with pytest.raises(ConfigError):
        AssessmentConfig.from_extra(extra)


def test_configured_targets_and_deadlines_reach_the_events(settings, db, clock):
    extra = {"ASSESSMENT_TARGET_DAYS": "P1:3", "ASSESSMENT_CONTACT_HOURS": "self_harm:2"}
    service = build(settings.but(extra=extra), db=db, clock=clock)
    service.handlers["referral.submitted"](submitted(risk_flags=["self_harm"]))
    assert outbox(db, "assessment.triaged")[0]["data"]["target_days"] == 3
    assert outbox(db, "assessment.escalated")[0]["data"]["contact_within_hours"] == 2


class TestHz06bConfigurationIsCheckedAndVersioned:
    """HZ-06b: a typo never silently disables a deadline; a stored triage names the config that shaped it."""

    @pytest.mark.parametrize(
        ("extra", "named"),
        [
            ({"ASSESSMENT_CONTACT_HOURS": "suicidal_tlak:1"}, "suicidal_tlak"),
            ({"ASSESSMENT_CONTACT_HOUR": "suicidal_talk:1"}, "ASSESSMENT_CONTACT_HOUR"),
            ({"ASSESSMENT_TARGET_DAYS": "P4:3"}, "P4"),
        ],
    )
    def test_an_unknown_key_refuses_to_start_naming_it(self, settings, db, clock, extra, named):
        with pytest.raises((ConfigError, RuleTableError), match=named):
            build(settings.but(extra=extra), db=db, clock=clock)

    def test_every_escalation_reason_may_be_configured(self, settings, db, clock):
        hours = (
            "default:12,asq_acute_positive:1,phq_a_item9_declined:6,unrecognised_risk_flag:8,harm_to_others:2"
        )
        build(settings.but(extra={"ASSESSMENT_CONTACT_HOURS": hours}), db=db, clock=clock)

    def test_the_platforms_own_variables_are_known(self, settings, db, clock):
        extra = {
            "ASSESSMENT_PORT": "8002",
            "ASSESSMENT_DB": "a",
            "ASSESSMENT_URL": "http://x",
            "REFERRAL_X": "y",
        }
        build(settings.but(extra=extra), db=db, clock=clock)

    def test_the_rule_version_changes_with_the_configuration(self):
        shipped = load_rules(AssessmentConfig())
        again = load_rules(AssessmentConfig())
        faster = load_rules(AssessmentConfig(contact_hours={"self_harm": 2}))
        shorter = load_rules(AssessmentConfig(target_days={"P1": 3}))
        assert shipped.version == again.version and shipped.version.startswith("waymark-sr-2025.2+")
        assert len({shipped.version, faster.version, shorter.version}) == 3

    def test_a_stored_triage_is_reproduced_from_its_version(self, settings, db, clock):
        extra = {"ASSESSMENT_TARGET_DAYS": "P1:3", "ASSESSMENT_CONTACT_HOURS": "self_harm:2"}
        service = build(settings.but(extra=extra), db=db, clock=clock)
        service.handlers["referral.submitted"](submitted(risk_flags=["self_harm"], concerns=["low_mood"]))
        stored = db.cases.find_one({"_id": "case-1"})
        version = stored["triage"][-1]["rule_version"]
        clinician = {"Authorization": f"Bearer {StaffTokens(SECRET).issue('dr-li', 'clinician')}"}
        answer = service.app.test_client().get(f"/v1/triage/rules/{version}", headers=clinician)
        assert answer.status_code == 200, answer.json
        table = rule_table.parse(answer.json["table"])
        assert table.version == version
        redone = triage(facts(stored["referral"]), table, date(2025, 3, 10))
        assert (redone.band, redone.score, redone.target_days) == (
            stored["triage"][-1]["band"],
            stored["triage"][-1]["score"],
            3,
        )
        assert table.hours_for("self_harm") == 2
        unknown = service.app.test_client().get("/v1/triage/rules/nope", headers=clinician)
        assert unknown.status_code == 404
