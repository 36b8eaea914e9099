"""Relapse detection edges: consecutive weeks, gaps, recovery, late reports, once per episode."""

from __future__ import annotations

from datetime import date

import pytest

from services.assessment.domain import returnplan

W = ["2025-03-03", "2025-03-10", "2025-03-17", "2025-03-24", "2025-03-31", "2025-04-07"]
TARGETS = {w: 2.0 for w in W}


def runs(attendance: dict[str, float], targets=TARGETS, min_weeks: int = 2) -> list[list[str]]:
    return returnplan.below_runs(targets, attendance, min_weeks)


class TestWeeks:
    @pytest.mark.parametrize(
        ("hours", "mean"), [([0, 0, 0, 0, 0], 0.0), ([1, 2, 3, 4, 5], 3.0), ([1.5, 1.5, 2, 2, 1], 1.6)]
    )
    def test_mean_hours_over_five_school_days(self, hours, mean):
        assert returnplan.mean_hours(hours) == mean

    @pytest.mark.parametrize(
        ("mean", "status"), [(1.99, "below_target"), (2.0, "on_target"), (3.0, "on_target")]
    )
    def test_exactly_on_target_is_not_below(self, mean, status):
        assert returnplan.WeekProgress(W[0], 2.0, mean).status == status

    def test_missing_target_or_report(self):
        assert returnplan.WeekProgress(W[0], None, 1.0).status == "no_target"
        assert returnplan.WeekProgress(W[0], 2.0, None).status == "no_report"

    def test_plan_weeks_must_be_distinct_mondays(self):
        errors = returnplan.plan_errors([date(2025, 3, 3), date(2025, 3, 4), date(2025, 3, 3)])
        assert errors == {
            "weeks.1.week_start": ["A plan week must start on a Monday."],
            "weeks.2.week_start": ["This week appears twice in the plan."],
        }


class TestRelapse:
    def test_one_week_below_is_not_a_relapse(self):
        assert runs({W[0]: 1.0, W[1]: 2.0}) == []

    def test_two_consecutive_weeks_below_are(self):
        assert runs({W[0]: 2.5, W[1]: 1.0, W[2]: 1.9}) == [[W[1], W[2]]]

    def test_a_week_on_target_in_between_breaks_the_run(self):
        assert runs({W[0]: 1.0, W[1]: 2.0, W[2]: 1.0}) == []

    def test_a_missing_report_breaks_the_run(self):
        assert runs({W[0]: 1.0, W[2]: 1.0}) == []

    def test_a_week_without_target_breaks_the_run(self):
        targets = {W[0]: 2.0, W[2]: 2.0}
        assert runs({W[0]: 1.0, W[1]: 0.0, W[2]: 1.0}, targets) == []

    def test_a_longer_run_is_one_episode(self):
        assert runs({W[0]: 1.0, W[1]: 1.0, W[2]: 1.0, W[3]: 0.5}) == [[W[0], W[1], W[2], W[3]]]

    def test_recovery_then_second_decline_is_a_second_episode(self):
        attendance = {W[0]: 1.0, W[1]: 1.0, W[2]: 2.0, W[3]: 1.0, W[4]: 1.0}
        assert runs(attendance) == [[W[0], W[1]], [W[3], W[4]]]

    @pytest.mark.parametrize(
        ("min_weeks", "below", "expected"),
        [(1, 1, [[W[0]]]), (3, 2, []), (3, 3, [[W[0], W[1], W[2]]])],
    )
    def test_configured_run_length(self, min_weeks, below, expected):
        attendance = {w: (1.0 if n < below else 3.0) for n, w in enumerate(W[:4])}
        assert runs(attendance, min_weeks=min_weeks) == expected

    def test_reported_episode_is_not_reported_again_when_it_grows(self):
        reported = [[W[0], W[1]]]
        attendance = {W[0]: 1.0, W[1]: 1.0, W[2]: 1.0}
        assert returnplan.new_relapses(TARGETS, attendance, reported, 2) == []

    def test_late_report_extending_a_run_backwards_is_the_same_episode(self):
        reported = [[W[1], W[2]]]
        attendance = {W[0]: 0.0, W[1]: 1.0, W[2]: 1.0}
        assert returnplan.new_relapses(TARGETS, attendance, reported, 2) == []

    def test_new_episode_after_recovery_is_reported(self):
        reported = [[W[0], W[1]]]
        attendance = {W[0]: 1.0, W[1]: 1.0, W[2]: 2.0, W[3]: 1.0, W[4]: 1.0}
        assert returnplan.new_relapses(TARGETS, attendance, reported, 2) == [[W[3], W[4]]]
