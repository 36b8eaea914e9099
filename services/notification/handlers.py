"""Event handlers: validate the payload, change reminders, plan deliveries, attempt them.

Order matters for a move or a cancellation: old reminders (and their unsent messages)
are withdrawn before the new message is planned. Every write is keyed by the event,
so a redelivered event changes nothing and sends nothing twice.
"""

from __future__ import annotations

import logging
from typing import Any

from marshmallow import ValidationError

from services.notification.config import NotificationConfig
from services.notification.domain.intents import intents_for
from services.notification.domain.reminders import parse_time
from services.notification.reminders import Reminders
from services.notification.schemas import READERS
from services.notification.sender import Looked, Sender
from shared.consumer import Handler
from shared.events import Event

log = logging.getLogger(__name__)


class EventHandlers:
    def __init__(self, sender: Sender, reminders: Reminders, config: NotificationConfig) -> None:
        self.sender, self.reminders, self.config = sender, reminders, config

    def registry(self) -> dict[str, Handler]:
        return {name: self.handle for name in READERS}

    def handle(self, event: Event) -> None:
        errors = READERS[event.name]().validate(dict(event.data))
        if errors:
            raise ValidationError(errors)  # poison: the consumer loop retries, then dead-letters it
        data = event.data
        self._apply_reminders(event)
        ids: list[str] = []
        looked_up: Looked = {}  # one contacts read for the event's intents and first attempts
        created: dict[str, dict[str, Any]] = {}  # what this handling inserted: attempted without a read
        try:
            for intent in intents_for(event.name, data):
                ids += self.sender.plan(
                    intent, event.dedupe_key, event.correlation_id, event.time, looked_up, created
                )
        except Exception:
            self.sender.release_unattempted(created)  # planned before the failure: due at once
            raise
        self.sender.deliver(ids, looked_up, created)

    def _apply_reminders(self, event: Event) -> None:
        data = event.data
        if event.name == "appointment.booked":
            self.reminders.schedule(data, event.correlation_id)
        elif event.name == "appointment.rescheduled":
            start = parse_time(data["start"])
            self.reminders.withdraw_appointment(data["appointment_id"], "rescheduled", keep_start=start)
            self.reminders.schedule(data, event.correlation_id)
        elif event.name == "appointment.cancelled":
            self.reminders.withdraw_appointment(data["appointment_id"], "cancelled")
        elif event.name == "referral.withdrawn":
            self.reminders.withdraw_case(data["case_id"], "referral_withdrawn")
