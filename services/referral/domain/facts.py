"""The non-identifying facts about a referral that may travel on events.

A referral (in its JSON form, as the API accepted it) holds personal data; consumers
need only an age band, the grade, the district, codes and counts. This module is the
one place that decides what leaves the service.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

AGE_BANDS = ((5, 8, "5-8"), (9, 11, "9-11"), (12, 14, "12-14"), (15, 18, "15-18"))
MIN_AGE, MAX_AGE = 5, 18


def age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def age_band(born: date, on: date) -> str:
    age = min(max(age_on(born, on), MIN_AGE), MAX_AGE)
    return next(label for low, high, label in AGE_BANDS if low <= age <= high)


def risk_flags(risk: Mapping[str, bool]) -> list[str]:
    return sorted(flag for flag, present in risk.items() if present)


def consent_scopes(guardians: list[Mapping[str, Any]]) -> list[str]:
    """Every scope at least one guardian consented to: consumers enforce them (HZ-13)."""
    return sorted({scope for g in guardians for scope in (g.get("consent") or {}).get("scope", ())})


def referral_facts(case_id: str, school_id: str, referred_on: str, referral: Mapping[str, Any]) -> dict:
    """The data of referral.submitted / referral.amended (docs/events.md), from a plaintext referral."""
    student = referral["student"]
    preferences = referral.get("preferences") or {}
    absence = referral["absence"]
    return {
        "case_id": case_id,
        "school_id": school_id,
        "referred_on": referred_on,
        "age_band": age_band(date.fromisoformat(student["date_of_birth"]), date.fromisoformat(referred_on)),
        "age_years": min(
            max(
                age_on(date.fromisoformat(student["date_of_birth"]), date.fromisoformat(referred_on)), MIN_AGE
            ),
            MAX_AGE,
        ),
        "grade": student["grade"],
        "district": preferences.get("home_district"),
        "concerns": list(referral["concerns"]),
        "risk_flags": risk_flags(referral["risk_indicators"]),
        "consent_scopes": consent_scopes(referral.get("guardians") or []),
        "absence": {
            "start": absence["start"],
            "days_missed_last_20": absence["days_missed_last_20"],
            "partial_days_last_20": absence["partial_days_last_20"],
        },
        "return_attempts": len(referral.get("return_attempts") or []),
        "impairments": list(referral.get("impairments") or []),
        "exam_year": bool(referral.get("exam_year")),
        "transition_year": bool(referral.get("transition_year")),
        "preferences": {
            "hospitals": list(preferences.get("hospitals") or []),
            "max_travel_km": preferences.get("max_travel_km"),
            "home_district": preferences.get("home_district"),
            "weekdays": list(preferences.get("weekdays") or []),
            "language": preferences.get("language"),
        },
    }
