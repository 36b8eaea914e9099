"""The graded return plan and the attendance reported against it, with relapse detection.

A clinician posts the plan (weekly targets in hours a day at school); the school's
attendance reports arrive as ``attendance.reported``. Each report is compared with the
plan and, when it completes a run of below-target weeks, one
``followup.relapse_detected`` is raised for that episode, in the same update that
stores the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.assessment import events as ev
from services.assessment import intake
from services.assessment.casework import WITHDRAWN, CaseClosed, Clock, NotAccepted, iso
from services.assessment.domain import returnplan
from services.assessment.domain.review import NOT_ACCEPTED
from services.assessment.repository import CaseRepository, Change, UnknownCase
from shared.events import Event


class InvalidPlan(ValueError):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("the plan is invalid")
        self.errors = errors


def targets_of(doc: Mapping[str, Any]) -> dict[str, float]:
    plan = doc.get("plan") or {}
    return {w["week_start"]: w["target_hours_per_day"] for w in plan.get("weeks", [])}


def means_of(doc: Mapping[str, Any]) -> dict[str, float]:
    return {week: a["mean_hours_per_day"] for week, a in (doc.get("attendance") or {}).items()}


@dataclass
class FollowUp:
    repo: CaseRepository
    clock: Clock
    relapse_weeks: int = 2

    def set_plan(self, case_id: str, weeks: Sequence[Mapping[str, Any]], by: str) -> dict[str, Any]:
        starts: list[date] = [w["week_start"] for w in weeks]
        errors = returnplan.plan_errors(starts)
        if errors:
            raise InvalidPlan(errors)
        ordered = sorted(weeks, key=lambda w: w["week_start"])
        stored = [
            {
                "week_start": w["week_start"].isoformat(),
                "target_hours_per_day": float(w["target_hours_per_day"]),
            }
            for w in ordered
        ]

        def mutation(doc: dict[str, Any]) -> Change:
            if doc["status"] == WITHDRAWN:
                raise CaseClosed(case_id)
            if doc["status"] in NOT_ACCEPTED:  # no plan before the referral is accepted
                raise NotAccepted(case_id)
            version = ((doc.get("plan") or {}).get("version") or 0) + 1
            plan = {"version": version, "weeks": stored, "at": iso(self.clock()), "by": by}
            audit = {"version": version, "at": plan["at"], "by": by}
            return Change({"plan": plan}, {"plan_history": [audit]}, [ev.plan_updated(case_id, stored)], plan)

        return self.repo.mutate(case_id, mutation)

    def attendance(self, event: Event) -> None:
        data = intake.Attendance().load(dict(event.data))
        week = data["week_start"].isoformat()

        def mutation(doc: dict[str, Any]) -> Change | None:
            if doc["status"] == WITHDRAWN:
                return None
            report = {
                "hours_by_day": data["hours_by_day"],
                "mean_hours_per_day": returnplan.mean_hours(data["hours_by_day"]),
                "reported_at": iso(self.clock()),
            }
            attendance = {**(doc.get("attendance") or {}), week: report}
            means = {w: a["mean_hours_per_day"] for w, a in attendance.items()}
            reported = [r["weeks_below"] for r in doc.get("relapses", [])]
            runs = returnplan.new_relapses(targets_of(doc), means, reported, self.relapse_weeks)
            at = iso(self.clock())
            relapses = [{"weeks_below": run, "at": at} for run in runs]
            events = [ev.relapse_detected(doc["_id"], run) for run in runs]
            return Change({"attendance": attendance}, {"relapses": relapses}, events)

        self.repo.mutate(data["case_id"], mutation, event)

    def view(self, case_id: str) -> dict[str, Any]:
        doc = self.repo.get(case_id, {"plan": 1, "attendance": 1, "relapses": 1, "plan_history": 1})
        if doc is None:
            raise UnknownCase(case_id)
        weeks = [
            {
                "week_start": p.week_start,
                "target_hours_per_day": p.target_hours_per_day,
                "mean_hours_per_day": p.mean_hours_per_day,
                "status": p.status,
            }
            for p in returnplan.progress(targets_of(doc), means_of(doc))
        ]
        return {
            "case_id": case_id,
            "plan": doc.get("plan"),
            "progress": weeks,
            "relapses": doc.get("relapses", []),
            "plan_history": doc.get("plan_history", []),
        }
