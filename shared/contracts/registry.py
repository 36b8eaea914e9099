"""Every published event type, by producer: the one list the catalogue and tests read."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError

from shared.contracts import assessment, notification, referral, scheduling

PRODUCERS: Mapping[str, Mapping[str, type[Schema]]] = {
    "referral": referral.SCHEMAS,
    "assessment": assessment.SCHEMAS,
    "scheduling": scheduling.SCHEMAS,
    "notification": notification.SCHEMAS,
}


def producer_of(event_name: str) -> str | None:
    return next((p for p, schemas in PRODUCERS.items() if event_name in schemas), None)


def schema_for(event_name: str) -> type[Schema]:
    producer = producer_of(event_name)
    if producer is None:
        raise KeyError(f"no contract for event {event_name!r}")
    return PRODUCERS[producer][event_name]


@cache
def _instance(event_name: str, unknown: str) -> Schema:
    """One schema instance per event and mode, built once: constructing a marshmallow schema
    (deep-copying its fields) costs more than validating an event; instances hold no state
    between calls, so threads share them."""
    return schema_for(event_name)(unknown=unknown)


def check(event_name: str, data: Mapping[str, Any]) -> None:
    """Producer side: raise ``ValidationError`` unless ``data`` is exactly the contract (unknown=RAISE)."""
    errors = _instance(event_name, RAISE).validate(dict(data))
    if errors:
        raise ValidationError(errors)


def read(event_name: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Consumer side: load tolerantly, ignoring fields added after this consumer was written."""
    return _instance(event_name, EXCLUDE).load(dict(data))
