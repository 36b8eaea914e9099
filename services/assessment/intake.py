"""Tolerant readers for the events this service consumes (referral and scheduling payloads).

We read only what assessment needs and ignore the rest (``unknown=EXCLUDE``), so a
producer adding a field never breaks us; a payload missing what we need raises
``ValidationError``, which the consumer loop retries and then dead-letters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

from services.assessment.domain.triage import ReferralFacts


class _Tolerant(Schema):
    class Meta:
        unknown = EXCLUDE


class Absence(_Tolerant):
    start = fields.Date(allow_none=True, load_default=None)
    days_missed_last_20 = fields.Int(load_default=0, validate=validate.Range(min=0, max=20))
    partial_days_last_20 = fields.Int(load_default=0, validate=validate.Range(min=0, max=20))


class Preferences(_Tolerant):
    hospitals = fields.List(fields.Str(), load_default=list)
    max_travel_km = fields.Int(allow_none=True, load_default=None)
    home_district = fields.Str(allow_none=True, load_default=None)
    weekdays = fields.List(fields.Str(), load_default=list)
    language = fields.Str(allow_none=True, load_default=None)


class Referral(_Tolerant):
    """referral.submitted / referral.amended (the amendment carries the full new picture)."""

    case_id = fields.Str(required=True)
    school_id = fields.Str(allow_none=True, load_default=None)
    referred_on = fields.Date(required=True)
    age_band = fields.Str(allow_none=True, load_default=None)
    age_years = fields.Int(allow_none=True, load_default=None)
    grade = fields.Int(allow_none=True, load_default=None)
    district = fields.Str(allow_none=True, load_default=None)
    concerns = fields.List(fields.Str(), load_default=list)
    risk_flags = fields.List(fields.Str(), load_default=list)
    consent_scopes = fields.List(fields.Str(), allow_none=True, load_default=None)
    """Scopes a guardian consented to; None on events from before they were published (= none)."""
    absence = fields.Nested(Absence, load_default=dict)
    return_attempts = fields.Int(load_default=0, validate=validate.Range(min=0))
    impairments = fields.List(fields.Str(), load_default=list)
    exam_year = fields.Bool(load_default=False)
    transition_year = fields.Bool(load_default=False)
    preferences = fields.Nested(Preferences, load_default=dict)
    amended_fields = fields.List(fields.Str(), load_default=list)


class Withdrawn(_Tolerant):
    case_id = fields.Str(required=True)
    reason = fields.Str(allow_none=True, load_default=None)


class Attendance(_Tolerant):
    case_id = fields.Str(required=True)
    week_start = fields.Date(required=True)
    hours_by_day = fields.List(
        fields.Float(validate=validate.Range(min=0, max=24)), required=True, validate=validate.Length(equal=5)
    )


class Attended(_Tolerant):
    case_id = fields.Str(required=True)
    appointment_id = fields.Str(load_default=None)
    kind = fields.Str(load_default="intake")


class Booked(_Tolerant):
    """appointment.booked: intake bookings invite the guardians to fill in questionnaires."""

    case_id = fields.Str(required=True)
    appointment_id = fields.Str(required=True, validate=validate.Length(min=1))
    hospital_id = fields.Str(allow_none=True, load_default=None)
    start = fields.AwareDateTime(required=True)
    kind = fields.Str(required=True)


def referral(data: Mapping[str, Any]) -> dict[str, Any]:
    """The stored picture of a referral: JSON-safe (dates as ISO strings), no personal data."""
    loaded = Referral().load(dict(data))
    absence = loaded["absence"] or {}
    start = absence.get("start")
    prefs = Preferences().load(loaded["preferences"] or {})
    return {
        **{k: v for k, v in loaded.items() if k not in ("absence", "preferences", "referred_on")},
        "referred_on": loaded["referred_on"].isoformat(),
        "absence": {
            "start": start.isoformat() if start else None,
            "days_missed_last_20": absence.get("days_missed_last_20", 0),
            "partial_days_last_20": absence.get("partial_days_last_20", 0),
        },
        "preferences": prefs,
    }


def facts(stored: Mapping[str, Any], instrument_bands: Mapping[str, str] | None = None) -> ReferralFacts:
    """Triage facts from a stored referral picture and the case's latest instrument severity bands."""
    loaded = Referral().load(dict(stored))
    absence = loaded["absence"] or {}
    return ReferralFacts(
        referred_on=loaded["referred_on"],
        absence_start=absence.get("start"),
        days_missed_last_20=absence.get("days_missed_last_20", 0),
        partial_days_last_20=absence.get("partial_days_last_20", 0),
        return_attempts=loaded["return_attempts"],
        risk_flags=frozenset(loaded["risk_flags"]),
        impairments=frozenset(loaded["impairments"]),
        concerns=frozenset(loaded["concerns"]),
        exam_year=loaded["exam_year"],
        transition_year=loaded["transition_year"],
        instrument_bands=dict(instrument_bands or {}),
    )
