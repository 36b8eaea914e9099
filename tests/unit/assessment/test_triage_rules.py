"""Every factor, every step edge and every band edge of the shipped rule table."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.assessment import catalogue
from services.assessment.config import AssessmentConfig
from services.assessment.domain import rules as rule_table
from services.assessment.domain.triage import ReferralFacts, triage

AS_OF = date(2025, 3, 10)
RULES = catalogue.load_rules(AssessmentConfig())


def facts(**changes) -> ReferralFacts:
    return ReferralFacts(referred_on=AS_OF, **changes)


def points(result, code: str) -> int | None:
    return next((f.points for f in result.factors if f.code == code), None)


class TestTable:
    def test_shipped_table_is_versioned_with_default_targets(self):
        assert RULES.version.startswith("waymark-sr-2025.2+")  # + the configuration's hash (HZ-06b)
        assert [(b.band, b.target_days) for b in RULES.bands] == [("P1", 7), ("P2", 30), ("P3", 90)]

    @pytest.mark.parametrize(
        ("score", "band"), [(0, "P3"), (29, "P3"), (30, "P2"), (59, "P2"), (60, "P1"), (100, "P1")]
    )
    def test_band_edges(self, score, band):
        assert RULES.band_for_score(score).band == band

    def test_configured_targets_and_contact_hours(self):
        table = RULES.configured({"P1": 5, "P3": 120}, {"default": 12, "self_harm": 6})
        assert [b.target_days for b in table.bands] == [5, 30, 120]
        assert table.hours_for("self_harm") == 6
        assert table.hours_for("not_eating") == 12
        assert table.hours_for("suicidal_talk") == 4

    def test_targets_for_unknown_band_are_refused(self):
        with pytest.raises(rule_table.RuleTableError):
            RULES.configured({"P9": 3})

    @pytest.mark.parametrize(
        "broken",
        [
            {"version": "x", "bands": [], "factors": [], "escalation": {"band": "P1", "default_hours": 24}},
            {"version": "x", "bands": [{"band": "P1"}], "factors": [], "escalation": {}},
        ],
    )
    def test_malformed_tables_are_refused(self, broken):
        with pytest.raises(rule_table.RuleTableError):
            rule_table.parse(broken)

    def test_unknown_measure_is_refused(self):
        doc = {
            "version": "x",
            "bands": [
                {"band": "P1", "label": "u", "min_score": 60, "target_days": 7},
                {"band": "P2", "label": "s", "min_score": 30, "target_days": 30},
                {"band": "P3", "label": "r", "min_score": 0, "target_days": 90},
            ],
            "factors": [{"code": "moon", "measure": "moon_phase", "points": 3}],
            "escalation": {"band": "P1", "default_hours": 24},
        }
        with pytest.raises(rule_table.RuleTableError, match="moon_phase"):
            rule_table.parse(doc)


class TestFactors:
    @pytest.mark.parametrize(
        ("days_absent", "expected"),
        [
            (0, None),
            (13, None),
            (14, 6),
            (27, 6),
            (28, 12),
            (55, 12),
            (56, 16),
            (84, 20),
            (181, 20),
            (182, 24),
            (400, 24),
        ],
    )
    def test_absence_duration_steps(self, days_absent, expected):
        result = triage(facts(absence_start=AS_OF - timedelta(days=days_absent)), RULES, AS_OF)
        assert points(result, "absence_duration") == expected

    def test_absence_is_counted_up_to_the_triage_date(self):
        start = AS_OF - timedelta(days=20)
        assert points(triage(facts(absence_start=start), RULES, AS_OF), "absence_duration") == 6
        later = AS_OF + timedelta(days=10)
        assert points(triage(facts(absence_start=start), RULES, later), "absence_duration") == 12

    @pytest.mark.parametrize(
        ("missed", "partial", "expected"),
        [
            (0, 0, None),
            (4, 1, None),  # 4.5/20 = 0.225
            (5, 0, 5),
            (0, 10, 5),  # partial days count half
            (9, 1, 5),
            (10, 0, 10),
            (14, 1, 10),
            (15, 0, 15),
            (18, 1, 15),
            (19, 0, 18),
            (20, 0, 18),
        ],
    )
    def test_share_of_days_missed_steps(self, missed, partial, expected):
        result = triage(facts(days_missed_last_20=missed, partial_days_last_20=partial), RULES, AS_OF)
        assert points(result, "days_missed") == expected

    @pytest.mark.parametrize(("attempts", "expected"), [(0, None), (1, 5), (2, 8), (3, 12), (9, 12)])
    def test_failed_return_attempts_steps(self, attempts, expected):
        assert (
            points(triage(facts(return_attempts=attempts), RULES, AS_OF), "failed_return_attempts")
            == expected
        )

    @pytest.mark.parametrize(
        ("kwargs", "code", "expected"),
        [
            ({"impairments": frozenset({"sleep"})}, "impairment_sleep", 6),
            ({"impairments": frozenset({"eating"})}, "impairment_eating", 6),
            ({"impairments": frozenset({"withdrawal"})}, "impairment_withdrawal", 6),
            ({"exam_year": True}, "exam_year", 6),
            ({"transition_year": True}, "transition_year", 4),
            ({"concerns": frozenset({"bullying"})}, "school_environment", 6),
            ({"concerns": frozenset({"learning_difficulty"})}, "learning_difficulty", 4),
        ],
    )
    def test_flag_factors(self, kwargs, code, expected):
        result = triage(facts(**kwargs), RULES, AS_OF)
        assert points(result, code) == expected
        assert [f.code for f in result.factors] == [code]
        assert result.band == "P3"
        assert not result.risk_reasons

    def test_nothing_matches_an_uneventful_referral(self):
        result = triage(facts(concerns=frozenset({"family_strain"})), RULES, AS_OF)
        assert (result.band, result.score, result.factors) == ("P3", 0, ())
        assert result.target_days == 90
        assert result.rule_version == RULES.version

    def test_bullying_flags_school_intervention(self):
        result = triage(facts(concerns=frozenset({"bullying", "peer_conflict"})), RULES, AS_OF)
        assert result.school_intervention is True
        assert result.factors[0].value == "bullying,peer_conflict"
        assert points(result, "school_environment") == 6  # counted once however many concerns match

    def test_learning_difficulty_routes_to_its_clinic(self):
        result = triage(facts(concerns=frozenset({"dyslexia"})), RULES, AS_OF)
        assert result.clinic_type == "learning_difficulty"
        assert triage(facts(), RULES, AS_OF).clinic_type == "school_refusal"


class TestRiskAndBands:
    @pytest.mark.parametrize(
        ("flag", "code", "pts"),
        [
            ("suicidal_talk", "risk_suicidal_talk", 40),
            ("self_harm", "risk_self_harm", 30),
            ("not_eating", "risk_not_eating", 25),
        ],
    )
    def test_each_risk_indicator_skips_the_queue(self, flag, code, pts):
        result = triage(facts(risk_flags=frozenset({flag})), RULES, AS_OF)
        assert result.band == "P1"
        assert result.target_days == 7
        assert result.risk_reasons == (flag,)
        assert points(result, code) == pts

    @pytest.mark.parametrize(
        ("kwargs", "score", "band"),
        [
            # 26 weeks (24) + 5/20 days missed (5) = 29
            ({"absence_start": AS_OF - timedelta(weeks=26), "days_missed_last_20": 5}, 29, "P3"),
            # 24 + exam year 6 = 30
            ({"absence_start": AS_OF - timedelta(weeks=26), "exam_year": True}, 30, "P2"),
            # 24 + 15/20 missed (15) + 2 attempts (8) + sleep 6 + withdrawal 6 = 59
            (
                {
                    "absence_start": AS_OF - timedelta(weeks=26),
                    "days_missed_last_20": 15,
                    "return_attempts": 2,
                    "impairments": frozenset({"sleep", "withdrawal"}),
                },
                59,
                "P2",
            ),
            # 24 + 20/20 missed (18) + 3 attempts (12) + sleep 6 = 60
            (
                {
                    "absence_start": AS_OF - timedelta(weeks=26),
                    "days_missed_last_20": 20,
                    "return_attempts": 3,
                    "impairments": frozenset({"sleep"}),
                },
                60,
                "P1",
            ),
        ],
    )
    def test_band_edges_from_hand_computed_referrals(self, kwargs, score, band):
        result = triage(facts(**kwargs), RULES, AS_OF)
        assert (result.score, result.band) == (score, band)
        assert sum(f.points for f in result.factors) == score

    def test_score_is_capped_at_100(self):
        everything = facts(
            absence_start=AS_OF - timedelta(weeks=40),
            days_missed_last_20=20,
            return_attempts=4,
            impairments=frozenset({"sleep", "eating", "withdrawal"}),
            exam_year=True,
            transition_year=True,
            concerns=frozenset({"bullying", "learning_difficulty"}),
            risk_flags=frozenset({"self_harm", "suicidal_talk", "not_eating"}),
        )
        result = triage(everything, RULES, AS_OF)
        assert result.score == 100
        assert result.risk_reasons == ("suicidal_talk", "self_harm", "not_eating")
