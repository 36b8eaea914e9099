"""What schools may send: marshmallow request schemas (they also generate the OpenAPI document).

Every schema raises on unknown fields (marshmallow 4's default), numbers and booleans are
strict, and codes come from domain.vocabulary. Rules that need today's date live in
domain.checks and run in the view with the service clock.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.referral.domain import vocabulary as vocab
from services.referral.domain.status import STATUSES
from services.referral.fields import InputSchema, StrictBoolean, StrictFloat, StrictInteger, codes, text

ID = validate.Regexp(vocab.ID_PATTERN, error="Must be 1-64 letters, digits, '-' or '_'.")
LANGUAGE = validate.Regexp(vocab.LANGUAGE_PATTERN, error="Must be a language tag such as 'zh-CN' or 'en'.")
PHONE = validate.Regexp(r"^\+?[0-9][0-9 ()-]{5,24}$", error="Must be a phone number such as +8613800000000.")


class StudentSchema(Schema):
    name = text(200, required=True)
    date_of_birth = fields.Date(required=True)
    sex = fields.String(required=True, validate=validate.OneOf(vocab.SEXES))
    grade = StrictInteger(required=True, validate=validate.Range(min=1, max=12))


class ConsentSchema(Schema):
    given_at = fields.AwareDateTime(required=True)
    scope = codes(vocab.CONSENT_SCOPES, required=True, min_length=1)


class GuardianSchema(Schema):
    relationship = fields.String(required=True, validate=validate.OneOf(vocab.RELATIONSHIPS))
    name = text(200)
    phone = fields.String(validate=PHONE)
    email = fields.Email(validate=validate.Length(max=254))
    language = fields.String(required=True, validate=LANGUAGE)
    consent = fields.Nested(ConsentSchema, required=True)

    @validates_schema
    def _reachable(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data.get("phone") and not data.get("email"):
            raise ValidationError("A guardian needs a phone or an email.", "phone")


class AbsenceSchema(Schema):
    start = fields.Date(required=True, metadata={"description": "First day of the current absence."})
    days_missed_last_20 = StrictInteger(required=True, validate=validate.Range(min=0, max=20))
    partial_days_last_20 = StrictInteger(required=True, validate=validate.Range(min=0, max=20))

    @validates_schema
    def _within_twenty(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("days_missed_last_20", 0) + data.get("partial_days_last_20", 0) > 20:
            raise ValidationError(
                "Missed and partial days together cannot exceed 20.", "partial_days_last_20"
            )


class RiskSchema(Schema):
    """Every risk question must be answered explicitly: silence is not 'no'.

    A risk code outside the published vocabulary is refused naming the allowed codes
    (HZ-06): a school must never believe it flagged a risk that triage cannot see.
    """

    error_messages = {"unknown": f"Unknown risk indicator. Must be one of: {', '.join(vocab.RISK_FLAGS)}."}

    self_harm = StrictBoolean(required=True)
    suicidal_talk = StrictBoolean(required=True)
    not_eating = StrictBoolean(required=True)
    # HZ-07: added in v1 without breaking existing clients, so optional; omitted = not asked.
    recent_suicide_attempt = StrictBoolean(metadata={"description": "Attempted suicide recently."})
    harm_to_others = StrictBoolean(metadata={"description": "Has harmed or threatened to harm others."})
    safeguarding_disclosure = StrictBoolean(
        metadata={"description": "Disclosed abuse or another safeguarding concern."}
    )
    psychotic_symptoms = StrictBoolean(
        metadata={"description": "Hears or sees things others do not, or unusual beliefs."}
    )
    substance_misuse = StrictBoolean(metadata={"description": "Misuses alcohol or drugs."})
    not_eating_or_drinking = StrictBoolean(
        metadata={"description": "Refusing food AND drink (medical urgency; `not_eating` is food only)."}
    )


class SchoolActionsSchema(Schema):
    tried = codes(vocab.SCHOOL_ACTIONS, required=True)
    details = text(2000, multiline=True)


class ReturnAttemptSchema(Schema):
    started_on = fields.Date(required=True)
    lasted_days = StrictInteger(required=True, validate=validate.Range(min=0, max=365))


class PreferencesSchema(Schema):
    hospitals = fields.List(fields.String(validate=ID), validate=validate.Length(max=20), load_default=list)
    max_travel_km = StrictInteger(
        allow_none=True, validate=validate.Range(min=1, max=1000), load_default=None
    )
    home_district = text(100, required=True)
    weekdays = codes(vocab.WEEKDAYS, load_default=list)
    language = fields.String(required=True, validate=LANGUAGE)


def _referral_fields(required: bool) -> dict[str, fields.Field]:
    """The amendable part of a referral, shared by submit (required) and amend (optional)."""
    return {
        "guardians": fields.List(
            fields.Nested(GuardianSchema), required=required, validate=validate.Length(min=1, max=4)
        ),
        "absence": fields.Nested(AbsenceSchema, required=required),
        "concerns": codes(vocab.CONCERNS, required=required, min_length=1),
        "risk_indicators": fields.Nested(RiskSchema, required=required),
        "school_actions": fields.Nested(SchoolActionsSchema, required=required),
        "return_attempts": fields.List(
            fields.Nested(ReturnAttemptSchema), validate=validate.Length(max=50), required=required
        ),
        "impairments": codes(vocab.IMPAIRMENTS),
        "exam_year": StrictBoolean(),
        "transition_year": StrictBoolean(),
        "preferences": fields.Nested(PreferencesSchema, required=required),
        "note": text(4000, multiline=True),
    }


def _consent_to_refer(guardians: list[dict[str, Any]] | None) -> None:
    if guardians is not None and not any("referral" in g["consent"]["scope"] for g in guardians):
        raise ValidationError("At least one guardian must consent to the referral.", "guardians")


class ReferralSchema(InputSchema.from_dict(_referral_fields(required=True))):  # type: ignore[misc]
    """A new referral of one child by one school."""

    student = fields.Nested(StudentSchema, required=True)

    @validates_schema
    def _consent(self, data: dict[str, Any], **kwargs: Any) -> None:
        _consent_to_refer(data.get("guardians"))


class AmendmentSchema(InputSchema.from_dict(_referral_fields(required=False))):  # type: ignore[misc]
    """New information: any amendable section, replaced whole. The child's identity cannot change."""

    @validates_schema
    def _something(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError("Send at least one section to amend.", "_schema")
        _consent_to_refer(data.get("guardians"))


class WithdrawalSchema(InputSchema):
    reason = fields.String(required=True, validate=validate.OneOf(vocab.WITHDRAW_REASONS))
    note = text(2000, multiline=True)


class AttendanceSchema(InputSchema):
    week_start = fields.Date(required=True, metadata={"description": "The Monday of the week reported."})
    hours_by_day = fields.List(
        StrictFloat(validate=validate.Range(min=0, max=12)),
        required=True,
        validate=validate.Length(equal=5),
        metadata={"description": "Hours in school Monday to Friday."},
    )


class WebhookSchema(InputSchema):
    url = fields.Url(required=True, schemes={"https", "http"}, validate=validate.Length(max=500))


class CaseListQuery(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
