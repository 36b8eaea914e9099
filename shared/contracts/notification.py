"""Payloads of the events the notification service publishes (``waymark.notification.events``).

They carry ids and delivery facts only, never an address or message text. ``case_id``
is null for hospital-level messages (capacity alerts); the envelope's subject is then
the hospital id.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

CHANNELS = ("email", "sms", "webhook")


class NotificationSent(Schema):
    """notification.sent v1: a message was handed to its channel (SMTP relay, SMS provider, school)."""

    class Meta:
        unknown = RAISE

    notification_id = fields.String(required=True)
    case_id = fields.String(required=True, allow_none=True)
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    template = fields.String(required=True)
    attempts = fields.Integer(required=True, validate=validate.Range(min=1))


class NotificationFailed(NotificationSent):
    """notification.failed v1: the delivery exhausted its retries or failed permanently (a dead letter)."""

    reason = fields.String(required=True)


SCHEMAS = {"notification.sent": NotificationSent, "notification.failed": NotificationFailed}
