"""Payloads of the events the assessment service publishes (docs/events.md).

The producer validates every outgoing payload with these schemas (``unknown=RAISE``)
before it reaches the outbox; consumers load them with ``unknown=EXCLUDE``.
"""

from __future__ import annotations

from collections.abc import Mapping

from marshmallow import Schema, fields, validate

BANDS = ("P1", "P2", "P3")
CLINIC_TYPES = ("school_refusal", "learning_difficulty")
# Referral review codes (services/assessment/domain/review.py holds the same lists; a unit
# test keeps them equal): what a school may be told, codes only (HZ-13).
REVIEW_REJECT_REASONS = (
    "criteria_not_met",
    "outside_catchment",
    "duplicate_referral",
    "consent_missing",
    "better_met_by_school_support",
)
REVIEW_INFORMATION_NEEDED = (
    "absence_details",
    "school_actions_taken",
    "attendance_record",
    "risk_details",
    "guardian_consent",
    "other",
)
REVIEW_REDIRECT_TO = (
    "emergency_services",
    "community_mental_health",
    "paediatrics",
    "social_care",
    "educational_psychology",
    "other_service",
)


class Factor(Schema):
    code = fields.Str(required=True)
    points = fields.Int(required=True)


class Constraints(Schema):
    hospitals = fields.List(fields.Str(), load_default=list)
    max_travel_km = fields.Int(allow_none=True, load_default=None)
    home_district = fields.Str(allow_none=True, load_default=None)
    weekdays = fields.List(fields.Str(), load_default=list)
    language = fields.Str(allow_none=True, load_default=None)


class Triaged(Schema):
    case_id = fields.Str(required=True)
    triage_version = fields.Int(required=True, validate=validate.Range(min=1))
    band = fields.Str(required=True, validate=validate.OneOf(BANDS))
    score = fields.Int(required=True, validate=validate.Range(min=0, max=100))
    target_days = fields.Int(required=True, validate=validate.Range(min=0))
    referred_on = fields.Date(required=True)
    rule_version = fields.Str(required=True)
    factors = fields.List(fields.Nested(Factor), required=True)
    clinic_type = fields.Str(required=True, validate=validate.OneOf(CLINIC_TYPES))
    school_intervention = fields.Bool(required=True)
    overridden = fields.Bool(required=True)
    constraints = fields.Nested(Constraints, required=True)


class Escalated(Schema):
    case_id = fields.Str(required=True)
    reasons = fields.List(fields.Str(), required=True, validate=validate.Length(min=1))
    contact_deadline = fields.AwareDateTime(required=True)
    contact_within_hours = fields.Int(required=True, validate=validate.Range(min=0))
    hospitals = fields.List(fields.Str(), required=True)
    # Optional addition (v1 stays compatible): what the contact must do, e.g. emergency_evaluation_now.
    action = fields.Str()


class Completed(Schema):
    case_id = fields.Str(required=True)
    instrument = fields.Str(required=True)
    instrument_version = fields.Str(required=True)
    administration = fields.Int(required=True, validate=validate.Range(min=1))
    scores = fields.Dict(keys=fields.Str(), values=fields.Float(), required=True)
    flags = fields.List(fields.Str(), required=True)
    # Optional additions (v1 stays compatible): who answered and the severity bands.
    informant = fields.Str()
    bands = fields.Dict(keys=fields.Str(), values=fields.Str())


class PlanWeek(Schema):
    week_start = fields.Date(required=True)
    target_hours_per_day = fields.Float(required=True, validate=validate.Range(min=0, max=10))


class ReturnPlanUpdated(Schema):
    case_id = fields.Str(required=True)
    weeks = fields.List(fields.Nested(PlanWeek), required=True)


class RelapseDetected(Schema):
    case_id = fields.Str(required=True)
    weeks_below = fields.List(fields.Date(), required=True, validate=validate.Length(min=1))


class QuestionnaireRequested(Schema):
    """The guardians are asked to fill in intake questionnaires; the link (a secret) is never here."""

    case_id = fields.Str(required=True)
    invitation_id = fields.Str(required=True)
    instruments = fields.List(fields.Str(), required=True, validate=validate.Length(min=1))
    due_by = fields.AwareDateTime(required=True)


class TaskAlert(Schema):
    """An escalation or safeguarding task needs a person now (HZ-02, HZ-10): alert ``recipient``.

    ``stage`` ``requested`` alerts the owner when the task is created, ``realert`` alerts the
    owner again at half the time to the deadline when nobody acknowledged it, ``breach``
    alerts the second line when the deadline passed before the task was completed.
    ``recipient`` is a staff id from the on-call roster (``unowned`` when the holding
    hospital has none: notification then alerts the hospital's, or the network's, on-call).
    """

    task_id = fields.Str(required=True)
    case_id = fields.Str(required=True)
    kind = fields.Str(
        required=True,
        validate=validate.OneOf(["escalation_contact", "safeguarding_contact", "referral_review"]),
    )
    stage = fields.Str(required=True, validate=validate.OneOf(["requested", "realert", "breach"]))
    tier = fields.Str(required=True, validate=validate.OneOf(["owner", "second_line"]))
    recipient = fields.Str(required=True)
    hospital_id = fields.Str(required=True, allow_none=True)
    due_at = fields.AwareDateTime(required=True)
    action = fields.Str(required=True)


class ReviewRequested(Schema):
    """A new (or resubmitted) referral waits for a clinician of ``hospital_id`` to review it.

    ``round`` counts submissions (1, then one more per resubmission after a return);
    ``due_at`` is the review deadline (sooner when the school flagged a risk);
    assessment consumes this to make the review task that alerts the on-call (HZ-14).
    """

    case_id = fields.Str(required=True)
    hospital_id = fields.Str(required=True, allow_none=True)
    round = fields.Int(required=True, validate=validate.Range(min=1))
    due_at = fields.AwareDateTime(required=True)
    risk_flagged = fields.Bool(required=True)


class ReviewDecided(Schema):
    """A clinician decided on a referral under review; codes only, never a free-text note.

    ``outcome`` ``accepted`` is followed by ``assessment.triaged``; ``returned`` names the
    ``information_needed`` and waits for the school's amendment; ``rejected`` (``reason``)
    and ``redirected`` (``redirect_to``) close the case.
    """

    case_id = fields.Str(required=True)
    hospital_id = fields.Str(required=True, allow_none=True)
    round = fields.Int(required=True, validate=validate.Range(min=1))
    outcome = fields.Str(
        required=True, validate=validate.OneOf(["accepted", "rejected", "returned", "redirected"])
    )
    decided_at = fields.AwareDateTime(required=True)
    reason = fields.Str(validate=validate.OneOf(REVIEW_REJECT_REASONS))
    information_needed = fields.List(
        fields.Str(validate=validate.OneOf(REVIEW_INFORMATION_NEEDED)), validate=validate.Length(min=1)
    )
    redirect_to = fields.Str(validate=validate.OneOf(REVIEW_REDIRECT_TO))


SCHEMAS: Mapping[str, type[Schema]] = {
    "assessment.triaged": Triaged,
    "assessment.escalated": Escalated,
    "assessment.completed": Completed,
    "assessment.questionnaire_requested": QuestionnaireRequested,
    "assessment.task_alert": TaskAlert,
    "assessment.review_requested": ReviewRequested,
    "assessment.review_decided": ReviewDecided,
    "returnplan.updated": ReturnPlanUpdated,
    "followup.relapse_detected": RelapseDetected,
}
