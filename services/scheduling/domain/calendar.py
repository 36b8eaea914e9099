"""Weekly clinic sessions turned into concrete slots over a rolling horizon.

Sessions are written in the hospital's local time ("Tuesday 09:00-12:00, 30 minute
intakes"); slots are stored in UTC with the local weekday kept, and their id is a
pure function of (hospital, clinic type, start), so expanding the same horizon twice
yields the same ids and materialising is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.scheduling.domain.model import WEEKDAYS, Slot

REGION_WIDE = "*"


@dataclass(frozen=True)
class Session:
    id: str
    hospital_id: str
    weekday: str
    start: time
    end: time
    slot_minutes: int
    kind: str = "intake"
    clinic_type: str = "school_refusal"


def slot_id(hospital_id: str, clinic_type: str, start: datetime) -> str:
    return f"{hospital_id}:{clinic_type}:{start.astimezone(UTC):%Y%m%dT%H%MZ}"


def session_slots(session: Session, day: date, tz: ZoneInfo) -> list[Slot]:
    cursor = datetime.combine(day, session.start, tzinfo=tz)
    stop = datetime.combine(day, session.end, tzinfo=tz)
    step = timedelta(minutes=session.slot_minutes)
    slots = []
    while cursor + step <= stop:
        start = cursor.astimezone(UTC)
        slots.append(
            Slot(
                id=slot_id(session.hospital_id, session.clinic_type, start),
                hospital_id=session.hospital_id,
                start=start,
                end=(cursor + step).astimezone(UTC),
                weekday=session.weekday,
                clinic_type=session.clinic_type,
                kind=session.kind,
                local_day=day,
            )
        )
        cursor += step
    return slots


def expand(
    sessions: Iterable[Session],
    first_day: date,
    days: int,
    holidays: Mapping[str, set[date]],
    tz: ZoneInfo,
) -> list[Slot]:
    """Every slot of every session on the days [first_day, first_day + days), skipping holidays."""
    by_weekday: dict[str, list[Session]] = {}
    for session in sessions:
        by_weekday.setdefault(session.weekday, []).append(session)
    region_closed = holidays.get(REGION_WIDE, set())
    slots: list[Slot] = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        if day in region_closed:
            continue
        for session in by_weekday.get(WEEKDAYS[day.weekday()], []):
            if day in holidays.get(session.hospital_id, set()):
                continue
            slots.extend(session_slots(session, day, tz))
    return slots
