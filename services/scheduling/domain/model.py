"""The scheduling vocabulary as plain values: hospitals, slots and waitlist entries.

Dates that are days (referral, target) are ``datetime.date``; slot times are aware
UTC datetimes, with the hospital-local weekday precomputed so that matching never
needs a time zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

BANDS = ("P1", "P2", "P3")
BAND_RANK = {"P1": 0, "P2": 1, "P3": 2}
# Maximum acceptable waits by urgency (Eichstedt et al. 2021: ~2 weeks, ~1 month, ~3.5 months).
DEFAULT_TARGET_DAYS = {"P1": 14, "P2": 30, "P3": 105}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KINDS = ("intake", "follow_up")
QUEUED = ("waiting", "offered")
"""Entry states that hold a place in the queue (and count in pressure)."""


@dataclass(frozen=True)
class Hospital:
    id: str
    name: str
    district: str
    location: tuple[float, float]
    clinic_types: tuple[str, ...] = ("school_refusal",)
    languages: tuple[str, ...] = ("zh",)


@dataclass(frozen=True)
class Constraints:
    """What a family can do; empty means "no limit"."""

    hospitals: tuple[str, ...] = ()
    max_travel_km: float | None = None
    home_district: str | None = None
    weekdays: tuple[str, ...] = ()
    language: str | None = None


@dataclass(frozen=True)
class Entry:
    case_id: str
    band: str
    referred_on: date
    target_date: date
    clinic_type: str = "school_refusal"
    score: float = 0.0
    urgent: bool = False
    constraints: Constraints = field(default_factory=Constraints)


@dataclass(frozen=True)
class Slot:
    id: str
    hospital_id: str
    start: datetime
    end: datetime
    weekday: str
    clinic_type: str = "school_refusal"
    kind: str = "intake"
    local_day: date | None = None
    """The day in the hospital's time zone (defaults to the UTC date)."""

    @property
    def day(self) -> date:
        return self.local_day or self.start.date()


def queue_key(entry: Entry) -> tuple:
    """The waitlist's fair order: urgent first, then band, then first come, then score."""
    return (not entry.urgent, BAND_RANK.get(entry.band, 9), entry.referred_on, -entry.score, entry.case_id)
