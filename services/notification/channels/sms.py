"""SMS behind a provider interface; the default provider only logs.

Bodies are content-free by construction (templates/*/ sms blocks), so logging them is
harmless; the phone number is masked in logs.
"""

from __future__ import annotations

import logging
from typing import Protocol

from services.notification.channels.base import DeliveryError, OutboundMessage
from services.notification.domain.contacts import mask

log = logging.getLogger(__name__)

MAX_SMS_CHARS = 320


class SmsProvider(Protocol):
    def send_sms(self, phone: str, text: str, reference: str) -> str | None:
        """Submit one SMS; return the provider's message id; raise DeliveryError on failure."""


class LoggingSmsProvider:
    def send_sms(self, phone: str, text: str, reference: str) -> str | None:
        log.info("sms (logging provider)", extra={"to": mask("sms", phone), "text": text, "ref": reference})
        return None


class SmsChannel:
    def __init__(self, provider: SmsProvider) -> None:
        self._provider = provider

    def send(self, message: OutboundMessage) -> str | None:
        if not message.to.lstrip("+").replace(" ", "").isdigit():
            raise DeliveryError("not a phone number", permanent=True)
        text = message.body.strip()[:MAX_SMS_CHARS]
        return self._provider.send_sms(message.to, text, message.delivery_id)
