"""Every published event type, by producer: the one list the catalogue and tests read."""

from __future__ import annotations

from collections.abc import Mapping

from marshmallow import Schema

from shared.contracts import assessment, notification, referral, scheduling

PRODUCERS: Mapping[str, Mapping[str, type[Schema]]] = {
    "referral": referral.SCHEMAS,
    "assessment": assessment.SCHEMAS,
    "scheduling": scheduling.SCHEMAS,
    "notification": notification.SCHEMAS,
}


def producer_of(event_name: str) -> str | None:
    return next((p for p, schemas in PRODUCERS.items() if event_name in schemas), None)
