"""Waiting-list pressure: demand against capacity per hospital and band, and where to move whom.

Each waiting family counts once, at its nearest acceptable hospital (its "home"
hospital). A hospital's queue is served in the fair order (urgent, band, first come)
by its open intake slots over the next weeks, then at its weekly session rate beyond
them; that projection gives each family a projected date, hence projected breaches,
and the wait a newcomer of each band would face (the predicted wait).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from services.scheduling.domain.model import BAND_RANK, BANDS, DEFAULT_TARGET_DAYS, Entry, queue_key

NO_CAPACITY_WAIT_DAYS = 365


@dataclass(frozen=True)
class Thresholds:
    high_ratio: float = 1.0
    critical_ratio: float = 1.5
    critical_breaches: int = 10


@dataclass(frozen=True)
class BandPressure:
    hospital_id: str
    band: str
    waiting: int
    capacity: int
    predicted_wait_days: int
    projected_breaches: int
    oldest_wait_days: int
    level: str


@dataclass(frozen=True)
class Suggestion:
    case_id: str
    band: str
    from_hospital: str
    to_hospital: str
    predicted_wait_from: int
    predicted_wait_to: int


@dataclass
class Capacity:
    open_days: list[date] = field(default_factory=list)
    """Days of the open intake slots in the window, one per slot."""
    weekly_rate: float = 0.0
    """Intake slots the hospital's sessions offer per week (throughput beyond the window)."""


def _projected_days(capacity: Capacity, count: int, today: date, window_end: date) -> list[date]:
    days = sorted(capacity.open_days)[:count]
    for k in range(count - len(days)):
        if capacity.weekly_rate <= 0:
            days.append(today + timedelta(days=NO_CAPACITY_WAIT_DAYS))
        else:
            days.append(window_end + timedelta(days=math.ceil((k + 1) * 7 / capacity.weekly_rate)))
    return days


def level_for(band: str, predicted_wait_days: int, breaches: int, t: Thresholds) -> str:
    ratio = predicted_wait_days / DEFAULT_TARGET_DAYS.get(band, 105)
    if ratio >= t.critical_ratio or breaches >= t.critical_breaches:
        return "critical"
    if ratio >= t.high_ratio or breaches >= 1:
        return "high"
    return "normal"


def compute(
    entries: Sequence[Entry],
    home: Mapping[str, str],
    capacity: Mapping[str, Capacity],
    today: date,
    window_end: date,
    thresholds: Thresholds | None = None,
) -> list[BandPressure]:
    t = thresholds or Thresholds()
    queues: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        if entry.case_id in home:
            queues[home[entry.case_id]].append(entry)
    rows = []
    for hospital_id in sorted(capacity):
        queue = sorted(queues.get(hospital_id, []), key=queue_key)
        cap = capacity[hospital_id]
        projected = _projected_days(cap, len(queue) + 1, today, window_end)
        for band in BANDS:
            members = [(i, e) for i, e in enumerate(queue) if e.band == band]
            ahead = sum(1 for e in queue if BAND_RANK.get(e.band, 9) <= BAND_RANK[band])
            wait = (projected[ahead] - today).days
            breaches = sum(1 for i, e in members if projected[i] > e.target_date)
            oldest = max(((today - e.referred_on).days for _, e in members), default=0)
            rows.append(
                BandPressure(
                    hospital_id,
                    band,
                    len(members),
                    len(cap.open_days),
                    wait,
                    breaches,
                    oldest,
                    level_for(band, wait, breaches, t),
                )
            )
    return rows


def suggestions(
    entries: Sequence[Entry],
    home: Mapping[str, str],
    eligible: Mapping[str, Sequence[str]],
    rows: Sequence[BandPressure],
    min_gain_days: int = 7,
    limit: int = 50,
) -> list[Suggestion]:
    """Moves from pressured hospitals to acceptable ones with a shorter wait and spare capacity."""
    by_key = {(r.hospital_id, r.band): r for r in rows}
    spare = defaultdict(int)
    for r in rows:
        spare[r.hospital_id] = r.capacity
    for r in rows:
        spare[r.hospital_id] -= r.waiting
    found: list[Suggestion] = []
    for entry in sorted(entries, key=queue_key):
        source = by_key.get((home.get(entry.case_id, ""), entry.band))
        if source is None or source.level == "normal":
            continue
        options = [
            by_key[(h, entry.band)]
            for h in eligible.get(entry.case_id, ())
            if (h, entry.band) in by_key and h != source.hospital_id and spare[h] > 0
        ]
        options = [o for o in options if o.predicted_wait_days + min_gain_days <= source.predicted_wait_days]
        if not options:
            continue
        best = min(options, key=lambda o: o.predicted_wait_days)
        spare[best.hospital_id] -= 1
        found.append(
            Suggestion(
                entry.case_id,
                entry.band,
                source.hospital_id,
                best.hospital_id,
                source.predicted_wait_days,
                best.predicted_wait_days,
            )
        )
        if len(found) >= limit:
            break
    return found
