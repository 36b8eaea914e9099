"""Rules that need today's date, so they run with the service clock rather than in the schema.

marshmallow 4 has no schema context, and a module-level "now" would make tests flaky;
the API calls these with ``clock()`` and answers 422 naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from services.referral.domain.facts import MAX_AGE, MIN_AGE, age_on

Errors = dict[str, list[str]]
FUTURE = "Must not be in the future."
CLOCK_SKEW = timedelta(minutes=5)


def local_today(now: datetime) -> date:
    """The latest calendar date anywhere (UTC+14): a school's 'today' is never rejected as future."""
    return (now + timedelta(hours=14)).date()


def referral_errors(referral: Mapping[str, Any], now: datetime) -> Errors:
    """Date rules of a (possibly partial) referral: nothing in the future, a school-age child."""
    today = local_today(now)
    errors: Errors = {}
    born = (referral.get("student") or {}).get("date_of_birth")
    if born is not None:
        if born > today:
            errors["student.date_of_birth"] = [FUTURE]
        elif not MIN_AGE - 1 <= age_on(born, now.date()) <= MAX_AGE + 1:
            errors["student.date_of_birth"] = [f"The child must be of school age ({MIN_AGE}-{MAX_AGE})."]
    absence = referral.get("absence") or {}
    if absence.get("start") is not None and absence["start"] > today:
        errors["absence.start"] = [FUTURE]
    for n, guardian in enumerate(referral.get("guardians") or []):
        given_at = (guardian.get("consent") or {}).get("given_at")
        if given_at is not None and given_at > now + CLOCK_SKEW:
            errors[f"guardians.{n}.consent.given_at"] = [FUTURE]
    for n, attempt in enumerate(referral.get("return_attempts") or []):
        if attempt["started_on"] > today:
            errors[f"return_attempts.{n}.started_on"] = [FUTURE]
    return errors


def attendance_errors(week_start: date, now: datetime) -> Errors:
    if week_start.weekday() != 0:
        return {"week_start": ["Must be a Monday."]}
    if week_start > local_today(now):
        return {"week_start": [FUTURE]}
    return {}


SHARE = "share_with_hospitals"


def sharing_errors(referral: Mapping[str, Any]) -> Errors:
    """HZ-13: without consent to share with other hospitals, the family names the hospitals it accepts.

    The regional waitlist pools a case across every hospital when the preference list is
    empty; only a guardian's ``share_with_hospitals`` consent allows that. Otherwise only
    the named hospitals (and the one that comes to hold the case) ever see it.
    """
    guardians = referral.get("guardians") or []
    hospitals = (referral.get("preferences") or {}).get("hospitals") or []
    if hospitals or any(SHARE in (g.get("consent") or {}).get("scope", ()) for g in guardians):
        return {}
    return {
        "preferences.hospitals": [
            "Name at least one hospital: no guardian consented to share_with_hospitals, "
            "so the case cannot be offered to every hospital in the region."
        ]
    }
