"""Request schemas (marshmallow 4, unknown fields rejected) for the scheduling API."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.scheduling.domain.geography import DISTRICT_CENTROIDS
from services.scheduling.domain.model import BANDS, KINDS, WEEKDAYS

CLINIC_TYPES = ["school_refusal", "learning_difficulty"]
ID = validate.Regexp(r"^[A-Za-z0-9_.:-]{1,80}$", error="Use 1-80 letters, digits, '_', '.', ':' or '-'.")


class HospitalIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    district = fields.String(required=True, validate=validate.OneOf(sorted(DISTRICT_CENTROIDS)))
    lat = fields.Float(load_default=None, validate=validate.Range(min=-90, max=90))
    lon = fields.Float(load_default=None, validate=validate.Range(min=-180, max=180))
    clinic_types = fields.List(
        fields.String(validate=validate.OneOf(CLINIC_TYPES)),
        load_default=lambda: ["school_refusal"],
        validate=validate.Length(min=1),
    )
    languages = fields.List(
        fields.String(validate=validate.Length(min=2, max=8)), load_default=lambda: ["zh"]
    )


class SessionIn(Schema):
    weekday = fields.String(required=True, validate=validate.OneOf(WEEKDAYS))
    start = fields.Time(required=True, format="%H:%M")
    end = fields.Time(required=True, format="%H:%M")
    kind = fields.String(load_default="intake", validate=validate.OneOf(KINDS))
    slot_minutes = fields.Integer(load_default=None, validate=validate.Range(min=10, max=240))
    clinic_type = fields.String(load_default="school_refusal", validate=validate.OneOf(CLINIC_TYPES))

    @validates_schema
    def _order(self, data: dict[str, Any], **_: Any) -> None:
        if data["end"] <= data["start"]:
            raise ValidationError("The session must end after it starts.", "end")


class HolidayIn(Schema):
    date = fields.Date(required=True)
    reason = fields.String(load_default="holiday", validate=validate.Length(max=120))


class SlotQuery(Schema):
    hospital_id = fields.String(load_default=None, validate=ID)
    state = fields.String(load_default=None, validate=validate.OneOf(["open", "held", "booked", "closed"]))
    kind = fields.String(load_default=None, validate=validate.OneOf(KINDS))
    date_from = fields.Date(load_default=None, data_key="from")
    date_to = fields.Date(load_default=None, data_key="to")
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=1000))


class WaitlistQuery(Schema):
    hospital_id = fields.String(load_default=None, validate=ID)
    band = fields.String(load_default=None, validate=validate.OneOf(BANDS))
    state = fields.String(
        load_default="waiting",
        validate=validate.OneOf(
            ["awaiting_triage", "waiting", "offered", "booked", "seen", "followup_needed", "removed", "all"]
        ),
    )
    sort = fields.String(
        load_default="priority", validate=validate.OneOf(["priority", "breach_date", "referred_on"])
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))
    cursor = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=400),
        metadata={"description": "The previous page's next_cursor (the same sort); omit for the first page."},
    )
    include_total = fields.Boolean(
        load_default=False,
        metadata={"description": "Also count every match (costs time in proportion to the matches)."},
    )
    offset = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=0, error="Page with cursor; offset is kept only as 0."),
        metadata={"description": "Deprecated: only 0 is accepted; use cursor."},
    )


class BookIn(Schema):
    case_id = fields.String(required=True, validate=ID)
    slot_id = fields.String(required=True, validate=validate.Length(min=1, max=200))


class RescheduleIn(Schema):
    slot_id = fields.String(required=True, validate=validate.Length(min=1, max=200))


class CancelIn(Schema):
    reason = fields.String(
        required=True,
        validate=validate.OneOf(
            ["family_request", "clinician_unavailable", "hospital_closure", "duplicate", "other"]
        ),
    )
    requeue = fields.Boolean(load_default=True)


class AttendanceIn(Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(["attended", "no_show"]))


class FollowUpsIn(Schema):
    count = fields.Integer(load_default=4, validate=validate.Range(min=1, max=12))
    interval_days = fields.Integer(load_default=7, validate=validate.Range(min=1, max=28))


class OfferIn(Schema):
    slot_id = fields.String(load_default=None, validate=validate.Length(min=1, max=200))


class AppointmentQuery(Schema):
    hospital_id = fields.String(load_default=None, validate=ID)
    case_id = fields.String(load_default=None, validate=ID)
    state = fields.String(
        load_default=None, validate=validate.OneOf(["booked", "cancelled", "attended", "no_show"])
    )
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=1000))


class OfferQuery(Schema):
    hospital_id = fields.String(load_default=None, validate=ID)
    state = fields.String(
        load_default=None,
        validate=validate.OneOf(["pending", "accepted", "declined", "expired", "withdrawn"]),
    )
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=1000))


class RebalanceIn(Schema):
    apply = fields.Boolean(load_default=False)
    hospital_id = fields.String(load_default=None, validate=ID)


class PressureQuery(Schema):
    hospital_id = fields.String(load_default=None, validate=ID)
