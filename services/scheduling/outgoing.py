"""Events this service publishes, each checked against its contract before it is written."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from shared.contracts import registry as contracts
from shared.events import Event, event_type

SOURCE = "/services/scheduling"


def event(name: str, subject: str, data: Mapping[str, Any], event_id: str | None = None) -> Event:
    """A contract-valid event; an invalid payload is a bug here, so it raises before any write."""
    contracts.check(name, data)
    if event_id is None:
        return Event(event_type(name), SOURCE, subject=subject, data=dict(data))
    return Event(event_type(name), SOURCE, subject=subject, data=dict(data), id=event_id)


def derived_id(cause: Event, purpose: str) -> str:
    """An id fixed by the consumed event that caused it: writing it twice still means one event (or
    one appointment) to everyone who dedupes on ids."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{cause.dedupe_key}#{purpose}").hex
