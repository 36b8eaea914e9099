"""The events this service publishes, validated against shared.contracts.notification.

Producers validate with RAISE so a payload that drifts from the catalogue fails here,
in our tests, not in a consumer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.contracts.notification import NotificationFailed, NotificationSent
from shared.events import Event, event_type

SOURCE = "/services/notification"


def _event(name: str, doc: Mapping[str, Any], data: dict[str, Any]) -> Event:
    subject = doc.get("case_id") or doc.get("hospital_id") or "network"
    return Event(
        event_type(name), SOURCE, subject, data, correlation_id=doc.get("correlation_id") or doc["_id"]
    )


def _facts(doc: Mapping[str, Any], attempts: int) -> dict[str, Any]:
    return {
        "notification_id": doc["_id"],
        "case_id": doc.get("case_id"),
        "channel": doc["channel"],
        "template": doc["template"],
        "attempts": attempts,
    }


def sent_event(doc: Mapping[str, Any], attempts: int) -> Event:
    data = NotificationSent().load(_facts(doc, attempts))
    return _event("notification.sent", doc, data)


def failed_event(doc: Mapping[str, Any], attempts: int, reason: str) -> Event:
    data = NotificationFailed().load({**_facts(doc, attempts), "reason": reason[:500]})
    return _event("notification.failed", doc, data)
