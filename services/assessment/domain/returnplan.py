"""The graded return to school: weekly targets, attendance against them, and relapse.

A week is *below target* when the average hours a day at school fall short of the
plan's target for that week. A relapse is a run of consecutive calendar weeks (the
configured number, default two) that are all below target. Each run is one episode and
is reported once: a run that grows, or that an out-of-order report extends backwards,
is the same episode; a week on target ends it. A week with no report or no target
breaks a run, because missing data is not evidence of decline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

WEEKDAYS_AT_SCHOOL = 5


@dataclass(frozen=True)
class WeekProgress:
    week_start: str
    target_hours_per_day: float | None
    mean_hours_per_day: float | None

    @property
    def status(self) -> str:
        if self.target_hours_per_day is None:
            return "no_target"
        if self.mean_hours_per_day is None:
            return "no_report"
        return "below_target" if self.below else "on_target"

    @property
    def below(self) -> bool:
        return (
            self.target_hours_per_day is not None
            and self.mean_hours_per_day is not None
            and self.mean_hours_per_day < self.target_hours_per_day
        )


def mean_hours(hours_by_day: Sequence[float]) -> float:
    """Average hours a day at school over the five school days of a week."""
    return round(sum(hours_by_day) / WEEKDAYS_AT_SCHOOL, 2)


def plan_errors(week_starts: Sequence[date]) -> dict[str, list[str]]:
    """Field errors for a plan's weeks: each must start on a Monday, each only once."""
    errors: dict[str, list[str]] = {}
    seen: set[date] = set()
    for n, start in enumerate(week_starts):
        if start.weekday() != 0:
            errors[f"weeks.{n}.week_start"] = ["A plan week must start on a Monday."]
        elif start in seen:
            errors[f"weeks.{n}.week_start"] = ["This week appears twice in the plan."]
        seen.add(start)
    return errors


def progress(targets: Mapping[str, float], attendance: Mapping[str, float]) -> list[WeekProgress]:
    """Every week that has a target or a report, in calendar order."""
    weeks = sorted(set(targets) | set(attendance))
    return [WeekProgress(w, targets.get(w), attendance.get(w)) for w in weeks]


def below_runs(
    targets: Mapping[str, float], attendance: Mapping[str, float], min_weeks: int
) -> list[list[str]]:
    """Runs of at least ``min_weeks`` consecutive calendar weeks all below target."""
    runs: list[list[str]] = []
    current: list[str] = []
    previous: date | None = None
    for week in progress(targets, attendance):
        start = date.fromisoformat(week.week_start)
        consecutive = previous is not None and start - previous == timedelta(days=7)
        if week.below:
            current = [*current, week.week_start] if consecutive and current else [week.week_start]
        else:
            current = []
        if week.below and len(current) == min_weeks:
            runs.append(current)
        elif week.below and len(current) > min_weeks:
            runs[-1] = current
        previous = start
    return runs


def new_relapses(
    targets: Mapping[str, float],
    attendance: Mapping[str, float],
    reported: Iterable[Sequence[str]],
    min_weeks: int,
) -> list[list[str]]:
    """Relapse episodes not reported yet: runs sharing no week with an already reported one."""
    already = {week for episode in reported for week in episode}
    return [run for run in below_runs(targets, attendance, min_weeks) if not already.intersection(run)]
