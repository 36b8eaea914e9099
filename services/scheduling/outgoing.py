"""Events this service publishes, each checked against its contract before it is written."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.contracts import registry as contracts
from shared.events import Event, event_type

SOURCE = "/services/scheduling"


def event(name: str, subject: str, data: Mapping[str, Any]) -> Event:
    """A contract-valid event; an invalid payload is a bug here, so it raises before any write."""
    contracts.check(name, data)
    return Event(event_type(name), SOURCE, subject=subject, data=dict(data))
