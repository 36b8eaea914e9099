"""Payloads of the events the scheduling service publishes (docs/events.md).

Producers check outgoing data with :func:`check` (``unknown=RAISE``); consumers load
with ``unknown=EXCLUDE``. Dates are ISO ``YYYY-MM-DD`` strings, instants RFC 3339 UTC.
No personal data: ids, bands and times only.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

BAND = validate.OneOf(["P1", "P2", "P3"])
KIND = validate.OneOf(["intake", "follow_up"])


class EntryAdded(Schema):
    case_id = fields.String(required=True)
    band = fields.String(required=True, validate=BAND)
    score = fields.Float(required=True)
    target_date = fields.Date(required=True)
    hospitals = fields.List(fields.String(), required=True)
    urgent = fields.Boolean(load_default=False)


class OfferMade(Schema):
    case_id = fields.String(required=True)
    offer_id = fields.String(required=True)
    hospital_id = fields.String(required=True)
    slot_start = fields.AwareDateTime(required=True)
    slot_end = fields.AwareDateTime(required=True)
    kind = fields.String(required=True, validate=KIND)
    hold_until = fields.AwareDateTime(required=True)


class PressureChanged(Schema):
    hospital_id = fields.String(required=True)
    band = fields.String(required=True, validate=BAND)
    waiting = fields.Integer(required=True)
    capacity = fields.Integer(required=True)
    predicted_wait_days = fields.Integer(required=True)
    projected_breaches = fields.Integer(required=True)
    level = fields.String(required=True, validate=validate.OneOf(["normal", "high", "critical"]))
    previous_level = fields.String(load_default=None, allow_none=True)


class AppointmentBooked(Schema):
    case_id = fields.String(required=True)
    appointment_id = fields.String(required=True)
    hospital_id = fields.String(required=True)
    start = fields.AwareDateTime(required=True)
    end = fields.AwareDateTime(required=True)
    kind = fields.String(required=True, validate=KIND)


class AppointmentRescheduled(AppointmentBooked):
    previous_start = fields.AwareDateTime(required=True)


class AppointmentCancelled(AppointmentBooked):
    reason = fields.String(required=True)


class AppointmentNoShow(AppointmentBooked):
    no_show_count = fields.Integer(required=True)


class FollowupNeeded(Schema):
    case_id = fields.String(required=True)
    hospital_id = fields.String(load_default=None, allow_none=True)
    reason = fields.String(
        required=True, validate=validate.OneOf(["repeated_no_show", "no_follow_up_capacity", "relapse"])
    )
    no_show_count = fields.Integer(required=True)


SCHEMAS: dict[str, type[Schema]] = {
    "waitlist.entry_added": EntryAdded,
    "waitlist.offer_made": OfferMade,
    "waitlist.pressure_changed": PressureChanged,
    "waitlist.followup_needed": FollowupNeeded,
    "appointment.booked": AppointmentBooked,
    "appointment.rescheduled": AppointmentRescheduled,
    "appointment.cancelled": AppointmentCancelled,
    "appointment.attended": AppointmentBooked,
    "appointment.no_show": AppointmentNoShow,
}
