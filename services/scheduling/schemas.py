"""Request schemas (marshmallow 4, unknown fields rejected) and response schemas for the scheduling API."""

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


# Response schemas: the allow-list of what each route returns. A field the store gains later
# (a claim, a walk token, an inbox marker) stays out of every response until it is named here.
# Routes pass documents through ``routes.common.public`` first (``_id`` → ``id``, instants in
# RFC 3339), so instants are strings here.


class Number(fields.Float):
    """A JSON number dumped as stored (an int stays an int), documented as ``number``."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


def _instant(description: str = "RFC 3339 UTC instant.") -> fields.String:
    return fields.String(metadata={"format": "date-time", "description": description})


class HospitalOut(Schema):
    id = fields.String()
    name = fields.String()
    district = fields.String()
    lat = Number()
    lon = Number()
    clinic_types = fields.List(fields.String())
    languages = fields.List(fields.String())
    updated_at = _instant()


class HospitalList(Schema):
    items = fields.List(fields.Nested(HospitalOut))


class SessionOut(Schema):
    id = fields.String()
    hospital_id = fields.String()
    active = fields.Boolean()
    weekday = fields.String()
    start = fields.String(metadata={"description": "Local time, HH:MM."})
    end = fields.String(metadata={"description": "Local time, HH:MM."})
    kind = fields.String()
    slot_minutes = fields.Integer()
    clinic_type = fields.String()
    created_at = _instant()


class SessionList(Schema):
    items = fields.List(fields.Nested(SessionOut))


class SessionEnded(Schema):
    session_id = fields.String()
    slots_closed = fields.Integer()


class HolidayOut(Schema):
    hospital_id = fields.String()
    date = fields.String(metadata={"format": "date"})
    reason = fields.String()
    to_reschedule = fields.List(fields.String(), metadata={"description": "Appointment ids to move."})


class SlotOut(Schema):
    id = fields.String()
    hospital_id = fields.String()
    session_id = fields.String()
    clinic_type = fields.String()
    kind = fields.String()
    start = _instant()
    end = _instant()
    weekday = fields.String()
    day = fields.String(metadata={"format": "date"})
    week = fields.String()
    state = fields.String()
    created_at = _instant()
    case_id = fields.String()
    offer_id = fields.String()
    held_at = _instant()
    appointment_id = fields.String()
    booked_at = _instant()


class SlotList(Schema):
    items = fields.List(fields.Nested(SlotOut))


class Materialised(Schema):
    created = fields.Integer()


class AppointmentOut(Schema):
    id = fields.String()
    case_id = fields.String()
    slot_id = fields.String()
    hospital_id = fields.String()
    clinic_type = fields.String()
    start = _instant()
    end = _instant()
    kind = fields.String()
    state = fields.String()
    series = fields.Integer(metadata={"description": "0 for an intake, k for the k-th follow-up."})
    booked_by = fields.String()
    created_at = _instant()
    reason = fields.String()
    cancelled_at = _instant()
    moves = fields.Integer()
    rescheduled_at = _instant()
    recorded_at = _instant()


class AppointmentList(Schema):
    items = fields.List(fields.Nested(AppointmentOut))


class AttendanceOut(AppointmentOut):
    follow_ups = fields.List(fields.Nested(AppointmentOut))
    next = fields.String(metadata={"description": "After a no-show: what happens next."})


class FollowUpsOut(Schema):
    requested = fields.Integer()
    booked = fields.List(fields.Nested(AppointmentOut))


class EntryOut(Schema):
    id = fields.String(metadata={"description": "The case id."})
    state = fields.String()
    band = fields.String()
    score = Number()
    referred_on = fields.String(metadata={"format": "date"})
    target_date = fields.String(metadata={"format": "date"})
    target_days = fields.Integer()
    clinic_type = fields.String()
    constraints = fields.Dict()
    eligible_hospitals = fields.List(fields.String())
    home_hospital = fields.String(allow_none=True)
    hospital_id = fields.String()
    triage_version = fields.Integer()
    urgent = fields.Boolean()
    urgent_reasons = fields.List(fields.String())
    urgent_target = fields.String(metadata={"format": "date"})
    contact_deadline = _instant()
    offer_id = fields.String()
    offer_round = fields.Integer()
    appointment_id = fields.String()
    no_show_count = fields.Integer()
    followup_reason = fields.String()
    relapse_at = _instant()
    expedite = fields.Dict(
        metadata={"description": "The last expedite attempt for an escalated booked case."}
    )
    removed_reason = fields.String()
    removed_at = _instant()
    created_at = _instant()
    updated_at = _instant()


class WaitlistPage(Schema):
    items = fields.List(fields.Nested(EntryOut))
    next_cursor = fields.String(allow_none=True)
    total = fields.Integer(metadata={"description": "Only with include_total."})


class OfferOut(Schema):
    id = fields.String()
    case_id = fields.String()
    slot_id = fields.String()
    hospital_id = fields.String()
    start = _instant()
    end = _instant()
    kind = fields.String()
    state = fields.String()
    hold_until = _instant()
    made_by = fields.String()
    reschedules = fields.String(metadata={"description": "An expedite offer: the appointment it replaces."})
    replaces_start = _instant("An expedite offer: when the replaced appointment starts.")
    created_at = _instant()
    answered_at = _instant()
    appointment_id = fields.String()


class OfferList(Schema):
    items = fields.List(fields.Nested(OfferOut))


class OfferLink(Schema):
    offer_id = fields.String()
    url = fields.String()


class GuardianOffer(Schema):
    """What a guardian may see: where, when and until when; nothing about the child."""

    offer_id = fields.String()
    state = fields.String()
    kind = fields.String()
    hospital_id = fields.String()
    hospital_name = fields.String()
    start = _instant()
    end = _instant()
    hold_until = _instant()


class Accepted(Schema):
    state = fields.String()
    appointment = fields.Nested(AppointmentOut)


class Declined(Schema):
    state = fields.String()


class AssignmentOut(Schema):
    case_id = fields.String()
    slot_id = fields.String()
    hospital_id = fields.String()
    slot_day = fields.String(metadata={"format": "date"})
    cost = Number()
    breach = fields.Boolean()
    travel_km = Number(allow_none=True)


class RebalanceOut(Schema):
    applied = fields.Boolean()
    offers_made = fields.Integer()
    objective = Number()
    breaches = fields.Integer()
    unserved = fields.Integer()
    assignments = fields.List(fields.Nested(AssignmentOut))


class BandPressureOut(Schema):
    hospital_id = fields.String()
    band = fields.String()
    waiting = fields.Integer()
    capacity = fields.Integer()
    predicted_wait_days = fields.Integer()
    projected_breaches = fields.Integer()
    oldest_wait_days = fields.Integer()
    level = fields.String()


class SuggestionOut(Schema):
    case_id = fields.String()
    band = fields.String()
    from_hospital = fields.String()
    to_hospital = fields.String()
    predicted_wait_from = fields.Integer()
    predicted_wait_to = fields.Integer()


class PressureOut(Schema):
    as_of = _instant()
    weeks = fields.Integer()
    hospitals = fields.List(fields.Nested(BandPressureOut))
    suggestions = fields.List(fields.Nested(SuggestionOut))


class FhirAppointmentSchema(Schema):
    """A FHIR R4 Appointment (services/scheduling/fhir.py), sent as application/fhir+json."""

    resourceType = fields.String(required=True)
    id = fields.String(required=True)
    identifier = fields.List(fields.Dict())
    status = fields.String(metadata={"description": "booked, fulfilled, noshow or cancelled"})
    serviceType = fields.List(fields.Dict())
    appointmentType = fields.Dict()
    basedOn = fields.List(fields.Dict(), metadata={"description": "The case's ServiceRequest."})
    start = fields.String(metadata={"format": "date-time"})
    end = fields.String(metadata={"format": "date-time"})
    created = fields.String(metadata={"format": "date-time"})
    cancelationReason = fields.Dict()
    participant = fields.List(
        fields.Dict(),
        metadata={"description": "The child by case identifier only, and the hospital (Location)."},
    )
