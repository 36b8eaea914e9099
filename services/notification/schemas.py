"""Marshmallow schemas: tolerant readers of the events we consume, and the HTTP API's shapes.

Consumers read with ``unknown=EXCLUDE`` and require only the fields they use, so
producers can add optional fields without breaking us (docs/events.md).
"""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from services.notification.repository import STATES


class Tolerant(Schema):
    class Meta:
        unknown = EXCLUDE


class CaseEvent(Tolerant):
    case_id = fields.String(required=True, validate=validate.Length(min=1))


class Escalated(CaseEvent):
    contact_deadline = fields.DateTime()
    contact_within_hours = fields.Float(allow_none=True)
    hospitals = fields.List(fields.String(), load_default=list)


class TaskAlert(CaseEvent):
    """assessment.task_alert: a task's owner (or second line) must be alerted now (HZ-02)."""

    task_id = fields.String(required=True)
    stage = fields.String(required=True)
    recipient = fields.String(required=True)
    hospital_id = fields.String(allow_none=True, load_default=None)
    due_at = fields.DateTime(required=True)


class ReviewDecided(CaseEvent):
    """assessment.review_decided: the school hears the decision on its referral (codes only)."""

    outcome = fields.String(required=True)


class AdviceAnswered(Tolerant):
    """advice.answered: the school's question was answered (it reads the text from referral)."""

    advice_id = fields.String(required=True, validate=validate.Length(min=1))


class OfferMade(CaseEvent):
    offer_id = fields.String(required=True, validate=validate.Length(min=1))
    hospital_id = fields.String()
    slot_start = fields.DateTime(required=True)
    slot_end = fields.DateTime()
    hold_until = fields.DateTime(required=True)
    kind = fields.String()


class QuestionnaireRequested(CaseEvent):
    invitation_id = fields.String(required=True, validate=validate.Length(min=1))
    due_by = fields.DateTime(required=True)


class Appointment(CaseEvent):
    appointment_id = fields.String(required=True, validate=validate.Length(min=1))
    hospital_id = fields.String()
    start = fields.DateTime(required=True)
    end = fields.DateTime()
    kind = fields.String()
    previous_start = fields.DateTime()
    reason = fields.String()
    no_show_count = fields.Integer()


class PressureChanged(Tolerant):
    hospital_id = fields.String(required=True)
    level = fields.String(required=True)
    band = fields.String()
    waiting = fields.Integer()
    capacity = fields.Integer()
    predicted_wait_days = fields.Float()


READERS: dict[str, type[Schema]] = {
    "referral.submitted": CaseEvent,
    "referral.withdrawn": CaseEvent,
    "assessment.triaged": CaseEvent,
    "assessment.escalated": Escalated,
    "assessment.questionnaire_requested": QuestionnaireRequested,
    "assessment.task_alert": TaskAlert,
    "assessment.review_decided": ReviewDecided,
    "advice.answered": AdviceAnswered,
    "followup.relapse_detected": CaseEvent,
    "waitlist.entry_added": CaseEvent,
    "waitlist.followup_needed": CaseEvent,
    "waitlist.offer_made": OfferMade,
    "waitlist.pressure_changed": PressureChanged,
    "appointment.booked": Appointment,
    "appointment.rescheduled": Appointment,
    "appointment.cancelled": Appointment,
    "appointment.no_show": Appointment,
    "appointment.attended": Appointment,
}


# -- HTTP ---------------------------------------------------------------------


class DeliveryQuery(Schema):
    status = fields.String(validate=validate.OneOf(STATES))
    case_id = fields.String()
    channel = fields.String(validate=validate.OneOf(("email", "sms", "webhook")))
    template = fields.String()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))


class Attempt(Schema):
    at = fields.DateTime()
    result = fields.String()
    error = fields.String()


class Delivery(Schema):
    """A delivery as operators see it: the address is masked, the body is never stored."""

    id = fields.String(attribute="_id")
    state = fields.String()
    channel = fields.String()
    template = fields.String()
    audience = fields.String()
    case_id = fields.String(allow_none=True)
    hospital_id = fields.String(allow_none=True)
    recipient = fields.String(attribute="recipient_masked")
    language = fields.String()
    urgent = fields.Boolean()
    attempts = fields.Integer()
    max_attempts = fields.Integer()
    replays = fields.Integer()
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    next_attempt_at = fields.DateTime()
    deferred_until = fields.DateTime()
    sent_at = fields.DateTime()
    origin = fields.String()
    history = fields.List(fields.Nested(Attempt))


class DeliveryPage(Schema):
    items = fields.List(fields.Nested(Delivery))
    count = fields.Integer()


class Reminder(Schema):
    id = fields.String(attribute="_id")
    case_id = fields.String()
    appointment_id = fields.String()
    start = fields.String()
    days_before = fields.Integer()
    due_at = fields.DateTime()
    state = fields.String()


class ReminderQuery(Schema):
    case_id = fields.String(required=True)


class ReminderPage(Schema):
    items = fields.List(fields.Nested(Reminder))
