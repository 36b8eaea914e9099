"""ASSESSMENT_* configuration: parsed with safe defaults, refused when malformed, applied to triage."""

from __future__ import annotations

import pytest

from services.assessment.bootstrap import build
from services.assessment.config import AssessmentConfig, ConfigError

from .conftest import outbox, submitted


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
