"""The one interface every channel implements, and how a failed send is classified.

A channel either returns (delivered to the provider) or raises :class:`DeliveryError`
saying whether another attempt could succeed; the sender turns that into a retry with
backoff or a dead letter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


class DeliveryError(Exception):
    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class OutboundMessage:
    delivery_id: str
    """Stable across attempts: providers and receivers can dedupe on it."""
    channel: str
    to: str
    body: str
    subject: str = ""
    secret: str | None = None
    """Webhook signing secret (webhooks only)."""
    headers: Mapping[str, str] = field(default_factory=dict)


class Channel(Protocol):
    def send(self, message: OutboundMessage) -> str | None:
        """Hand the message over; return the provider's id if any; raise DeliveryError on failure."""


class RecordingChannel:
    """Keeps what it was asked to send; tests and the embedded default use it. Can fail on demand."""

    def __init__(self, failures: list[DeliveryError] | None = None) -> None:
        self.sent: list[OutboundMessage] = []
        self.failures = list(failures or [])

    def send(self, message: OutboundMessage) -> str | None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        return f"recorded-{len(self.sent)}"
