"""The events this service emits, built in one place and checked against shared.contracts.referral.

Validating on the way out (unknown=RAISE) means a field holding personal data can never
be added to an event by accident: it would have to be added to the published contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError

from shared.contracts.registry import check
from shared.events import Event, event_type

SOURCE = "/services/referral"


def make(name: str, case_id: str, data: Mapping[str, Any]) -> Event:
    try:
        check(name, data)
    except ValidationError as exc:
        raise ValueError(f"{name} payload breaks its contract: {exc.messages}") from None
    return Event(event_type(name), SOURCE, subject=case_id, data=dict(data))


def submitted(facts: Mapping[str, Any]) -> Event:
    return make("referral.submitted", facts["case_id"], facts)


def amended(facts: Mapping[str, Any], amended_fields: list[str]) -> Event:
    return make("referral.amended", facts["case_id"], {**facts, "amended_fields": sorted(amended_fields)})


def withdrawn(case_id: str, reason: str) -> Event:
    return make("referral.withdrawn", case_id, {"case_id": case_id, "reason": reason})


def attendance_reported(case_id: str, week_start: str, hours_by_day: list[float]) -> Event:
    data = {"case_id": case_id, "week_start": week_start, "hours_by_day": [float(h) for h in hours_by_day]}
    return make("attendance.reported", case_id, data)


def status_changed(case: Mapping[str, Any], status: str, previous: str | None, cause: str, at: str) -> Event:
    data = {
        "case_id": case["_id"],
        "school_id": case["school_id"],
        "status": status,
        "previous_status": previous,
        "cause": cause,
        "at": at,
    }
    return make("referral.status_changed", case["_id"], data)
