"""Payloads the referral service publishes (docs/events.md): validated with RAISE before writing.

Consumers load them with ``unknown=EXCLUDE`` (``SubmittedData().load(data, unknown=EXCLUDE)``)
so that a new optional field never breaks them. No field here may hold personal data.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

AGE_BANDS = ("5-8", "9-11", "12-14", "15-18")
RISK_FLAGS = (
    "self_harm",
    "suicidal_talk",
    "not_eating",
    "recent_suicide_attempt",
    "harm_to_others",
    "safeguarding_disclosure",
    "psychotic_symptoms",
    "substance_misuse",
    "not_eating_or_drinking",
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
CONSENT_SCOPES = (
    "referral",
    "share_with_hospitals",
    "contact_by_sms",
    "contact_by_email",
    "questionnaires",
    "school_liaison",
)
STATUSES = (
    "submitted",
    "triaged",
    "waitlisted",
    "offered",
    "booked",
    "seen",
    "in_follow_up",
    "discharged",
    "withdrawn",
    # referral review (hospitals configured for it; assessment.review_*): optional additions
    "awaiting_review",
    "information_requested",
    "rejected",
    "redirected",
)


class Absence(Schema):
    start = fields.Date(required=True)
    days_missed_last_20 = fields.Integer(required=True, validate=validate.Range(0, 20))
    partial_days_last_20 = fields.Integer(required=True, validate=validate.Range(0, 20))


class Preferences(Schema):
    hospitals = fields.List(fields.String(), required=True)
    max_travel_km = fields.Integer(required=True, allow_none=True)
    home_district = fields.String(required=True, allow_none=True)
    weekdays = fields.List(fields.String(validate=validate.OneOf(WEEKDAYS)), required=True)
    language = fields.String(required=True, allow_none=True)


class SubmittedData(Schema):
    """referral.submitted v1."""

    case_id = fields.String(required=True)
    school_id = fields.String(required=True)
    referred_on = fields.Date(required=True)
    age_band = fields.String(required=True, validate=validate.OneOf(AGE_BANDS))
    age_years = fields.Integer(
        validate=validate.Range(5, 18),
        metadata={"description": "Whole years on referred_on: gates instruments by validated age (HZ-04)."},
    )
    grade = fields.Integer(required=True, validate=validate.Range(1, 12))
    district = fields.String(required=True, allow_none=True)
    concerns = fields.List(fields.String(), required=True)
    risk_flags = fields.List(fields.String(validate=validate.OneOf(RISK_FLAGS)), required=True)
    consent_scopes = fields.List(
        fields.String(validate=validate.OneOf(CONSENT_SCOPES)),
        metadata={
            "description": "Scopes at least one guardian consented to; consumers enforce them (HZ-13)."
        },
    )
    absence = fields.Nested(Absence, required=True)
    return_attempts = fields.Integer(required=True, validate=validate.Range(min=0))
    impairments = fields.List(fields.String(), required=True)
    exam_year = fields.Boolean(required=True)
    transition_year = fields.Boolean(required=True)
    preferences = fields.Nested(Preferences, required=True)


class AmendedData(SubmittedData):
    """referral.amended v1: the full new picture plus the names of the sections that changed."""

    amended_fields = fields.List(fields.String(), required=True)


class WithdrawnData(Schema):
    """referral.withdrawn v1."""

    case_id = fields.String(required=True)
    reason = fields.String(required=True)


class AttendanceReportedData(Schema):
    """attendance.reported v1: hours in school Monday..Friday of one week."""

    case_id = fields.String(required=True)
    week_start = fields.Date(required=True)
    hours_by_day = fields.List(
        fields.Float(validate=validate.Range(0, 24)), required=True, validate=validate.Length(equal=5)
    )


class StatusChangedData(Schema):
    """referral.status_changed v1: the case moved on its timeline (drives school webhooks)."""

    case_id = fields.String(required=True)
    school_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    previous_status = fields.String(required=True, allow_none=True)
    cause = fields.String(required=True)
    at = fields.String(required=True)


class AdviceRequestedData(Schema):
    """A school asks a clinician for advice without referring; the question (free text) stays
    encrypted in referral, read by clinicians on ``/clinical/v1/advice/<id>``."""

    advice_id = fields.String(required=True)
    school_id = fields.String(required=True)
    hospital_id = fields.String(required=True, allow_none=True)
    age_band = fields.String(required=True, validate=validate.OneOf(AGE_BANDS))
    concerns = fields.List(fields.String(), required=True)


class AdviceAnsweredData(Schema):
    """A clinician answered; the school reads the answer on ``GET /v1/advice/<id>``."""

    advice_id = fields.String(required=True)
    school_id = fields.String(required=True)
    answered_at = fields.String(required=True)


SCHEMAS: dict[str, type[Schema]] = {
    "referral.submitted": SubmittedData,
    "referral.amended": AmendedData,
    "referral.withdrawn": WithdrawnData,
    "attendance.reported": AttendanceReportedData,
    "referral.status_changed": StatusChangedData,
    "advice.requested": AdviceRequestedData,
    "advice.answered": AdviceAnsweredData,
}
