"""What the API answers: marshmallow response schemas (documentation in /openapi.json, and dumping)."""

from __future__ import annotations

from marshmallow import Schema, fields

from services.referral.domain.status import STATUSES


class SubmittedSchema(Schema):
    case_id = fields.String(required=True)
    status = fields.String(metadata={"enum": list(STATUSES)})
    submitted_at = fields.String(required=True)
    duplicate = fields.Boolean(
        required=True,
        metadata={
            "description": "True when the child already had an open case of this school: this referral "
            "was linked to it. Another school's case is never revealed (a new case of your own is opened)."
        },
    )
    message = fields.String()


class TimelineEntrySchema(Schema):
    kind = fields.String(required=True)
    at = fields.String(required=True)
    status = fields.String(allow_none=True, metadata={"description": "The case status after this entry."})
    detail = fields.Dict()


class CaseSummarySchema(Schema):
    case_id = fields.String(required=True)
    status = fields.String(required=True)
    student_name = fields.String()
    referred_on = fields.String()
    submitted_at = fields.String()
    updated_at = fields.String()


class CasePageSchema(Schema):
    items = fields.List(fields.Nested(CaseSummarySchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class AttendanceReportSchema(Schema):
    week_start = fields.String()
    hours_by_day = fields.List(fields.Float())
    reported_at = fields.String()


class CaseSchema(CaseSummarySchema):
    school_status = fields.String(
        metadata={
            "description": "Coarse status for the school (HZ-13): received, accepted, appointment_booked, "
            "attended, discharged, withdrawn."
        }
    )
    referral = fields.Dict(
        metadata={"description": "The referral as submitted and amended (ReferralSchema)."}
    )
    timeline = fields.List(fields.Nested(TimelineEntrySchema))
    attendance = fields.List(fields.Nested(AttendanceReportSchema))
    linked_referrals = fields.Integer(
        metadata={"description": "Later referrals of the same child linked here."}
    )
    withdrawal = fields.Dict(allow_none=True)


class WebhookOutSchema(Schema):
    url = fields.String()
    secret = fields.String(
        metadata={"description": "Signing secret (HMAC-SHA256); shown only once, at registration."}
    )
    registered_at = fields.String()


class ConsentOutSchema(Schema):
    given_at = fields.String()
    scope = fields.List(fields.String())
    email = fields.Boolean(metadata={"description": "May be contacted by email (scope contact_by_email)."})
    sms = fields.Boolean(metadata={"description": "May be contacted by SMS (scope contact_by_sms)."})


class SchoolContactSchema(Schema):
    school_id = fields.String()
    webhook_url = fields.String(allow_none=True)
    webhook_secret = fields.String(allow_none=True)


class ContactSchema(Schema):
    relationship = fields.String()
    name = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    language = fields.String()
    consent = fields.Nested(ConsentOutSchema)


class ContactsSchema(Schema):
    case_id = fields.String()
    status = fields.String()
    language = fields.String(allow_none=True, metadata={"description": "The family's preferred language."})
    guardians = fields.List(fields.Nested(ContactSchema))
    school = fields.Nested(SchoolContactSchema)


class SchoolNoteSchema(Schema):
    case_id = fields.String(required=True)
    note = fields.String(allow_none=True, metadata={"description": "The school's note, in its own words."})
    school_actions_details = fields.String(allow_none=True)
    read_at = fields.String(required=True, metadata={"format": "date-time"})


class AccessEntrySchema(Schema):
    case_id = fields.String(required=True)
    who = fields.String(required=True)
    role = fields.String(required=True)
    what = fields.String(required=True, metadata={"description": "What was read, e.g. school_note."})
    at = fields.String(required=True, metadata={"format": "date-time"})


class AccessLogSchema(Schema):
    case_id = fields.String(required=True)
    items = fields.List(fields.Nested(AccessEntrySchema), required=True)


class ServiceRequestSchema(Schema):
    """A FHIR R4 ServiceRequest (services/referral/fhir.py), sent as application/fhir+json."""

    resourceType = fields.String(required=True)
    id = fields.String(required=True)
    contained = fields.List(fields.Dict(), metadata={"description": "The child (Patient) and the school."})
    identifier = fields.List(fields.Dict())
    status = fields.String()
    intent = fields.String()
    category = fields.List(fields.Dict())
    priority = fields.String()
    code = fields.Dict()
    subject = fields.Dict()
    authoredOn = fields.String(metadata={"format": "date-time"})
    requester = fields.Dict()
    reasonCode = fields.List(fields.Dict())
    note = fields.List(fields.Dict())


class EpisodeOfCareSchema(Schema):
    """A FHIR R4 EpisodeOfCare (services/referral/fhir.py ``episode_of_care``), sent as application/fhir+json."""

    resourceType = fields.String(required=True)
    id = fields.String(required=True)
    contained = fields.List(fields.Dict(), metadata={"description": "The child (Patient)."})
    identifier = fields.List(fields.Dict())
    status = fields.String(metadata={"description": "planned, waitlist, active, finished or cancelled"})
    statusHistory = fields.List(
        fields.Dict(), metadata={"description": "Earlier statuses with their periods."}
    )
    type = fields.List(fields.Dict())
    patient = fields.Dict()
    period = fields.Dict(metadata={"description": "From submission to discharge or withdrawal."})
    referralRequest = fields.List(fields.Dict(), metadata={"description": "The case's ServiceRequest."})


class AdviceSchema(Schema):
    """A school's question without a referral, as the school and the clinicians see it."""

    advice_id = fields.String(required=True)
    state = fields.String(required=True, metadata={"enum": ["open", "answered"]})
    age_band = fields.String(required=True)
    concerns = fields.List(fields.String())
    hospital_id = fields.String(allow_none=True, metadata={"description": "None: any hospital's clinicians."})
    asked_at = fields.String(required=True, metadata={"format": "date-time"})
    question = fields.String(required=True)
    referral_case_id = fields.String(
        allow_none=True, metadata={"description": "Once converted to a referral."}
    )
    answer = fields.String()
    answered_at = fields.String(metadata={"format": "date-time"})


class AdviceListItemSchema(Schema):
    """An open question in a hospital's list: never its text (that read is access-logged)."""

    advice_id = fields.String(required=True, attribute="_id")
    school_id = fields.String(required=True)
    hospital_id = fields.String(required=True)
    state = fields.String(required=True)
    age_band = fields.String(required=True)
    concerns = fields.List(fields.String())
    asked_at = fields.String(required=True, metadata={"format": "date-time"})


class AdviceListSchema(Schema):
    items = fields.List(fields.Nested(AdviceListItemSchema), required=True)
