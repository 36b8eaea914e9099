"""Quiet hours: a guardian's night is not interrupted except for an escalation.

A message due inside the recipient's quiet window is deferred to the window's end in
the recipient's own time zone; windows may wrap midnight (21:00 to 08:00).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.notification.domain.contacts import QuietHours


def _parse(value: str) -> time:
    hours, _, minutes = value.partition(":")
    return time(int(hours), int(minutes or 0))


def deferred_until(now: datetime, quiet: QuietHours | None) -> datetime | None:
    """When the quiet window containing ``now`` ends (aware, UTC-comparable), or None if not quiet."""
    if quiet is None:
        return None
    zone = ZoneInfo(quiet.tz)
    local = now.astimezone(zone)
    start, end = _parse(quiet.start), _parse(quiet.end)
    if start == end:
        return None
    clock = local.timetz().replace(tzinfo=None)
    wraps = start > end
    inside = (clock >= start or clock < end) if wraps else (start <= clock < end)
    if not inside:
        return None
    end_day = local.date()
    if wraps and clock >= start:
        end_day += timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=zone)
