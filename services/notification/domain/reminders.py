"""The reminder cadence: 3 days and 1 day before an appointment (Steiner et al. 2018).

A reminder whose time has already passed when the appointment is booked is not
created: the booking confirmation itself tells the family.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta


def reminder_id(appointment_id: str, start: datetime, days_before: int) -> str:
    """One reminder per appointment, start and offset, so re-handling an event adds nothing."""
    return f"{appointment_id}:{start.isoformat()}:{days_before}d"


def due_times(start: datetime, now: datetime, days_before: Sequence[int]) -> list[tuple[int, datetime]]:
    """(days_before, due_at) for every reminder still in the future."""
    due = [(days, start - timedelta(days=days)) for days in sorted(set(days_before), reverse=True)]
    return [(days, at) for days, at in due if at > now]


def parse_time(value: str | datetime) -> datetime:
    """An event's ISO 8601 time (``Z`` or offset) as an aware datetime."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value.replace("Z", "+00:00"))
