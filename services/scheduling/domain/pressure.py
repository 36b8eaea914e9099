"""Waiting-list pressure: demand against capacity per hospital and band, and where to move whom.

Each waiting family counts once, at its nearest acceptable hospital (its "home"
hospital). A hospital's queue is served in the fair order (urgent, band, first come)
by its open intake slots over the next weeks, then at its weekly session rate beyond
them; that projection gives each family a projected date, hence projected breaches,
and the wait a newcomer of each band would face (the predicted wait).

The projection needs only how many families wait per (home hospital, band, bucket),
a bucket being (urgent, referral date, target date), so the service keeps those counts
as running aggregates (services/scheduling/pressure_counts.py) and computing pressure
costs O(buckets), which grows with the days families have waited, not with their number.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
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


Bucket = tuple[bool, date, date]
"""(urgent, referred_on, target_date): families in one bucket queue together and breach alike."""

Counts = Mapping[str, Mapping[str, Mapping[Bucket, int]]]
"""Families per home hospital, band and bucket: everything the projection needs, and no more."""


def bucket_of(entry: Entry) -> Bucket:
    return (entry.urgent, entry.referred_on, entry.target_date)


def histogram(entries: Iterable[Entry], home: Mapping[str, str]) -> dict[str, dict[str, Counter[Bucket]]]:
    """The counts of ``entries`` at their home hospitals (the exact recomputation of the running counts)."""
    counts: dict[str, dict[str, Counter[Bucket]]] = defaultdict(lambda: defaultdict(Counter))
    for entry in entries:
        if entry.case_id in home:
            counts[home[entry.case_id]][entry.band][bucket_of(entry)] += 1
    return counts


class Projection:
    """The day the i-th family (from 0) of a hospital's queue would be seen, in O(1) per position.

    Open slots in the window first, in day order; then the sessions' weekly rate beyond the
    window; with no sessions, a year. Days never decrease along the queue, so how many of a
    run of positions fall after a date is a binary search, not a walk.
    """

    def __init__(self, capacity: Capacity, today: date, window_end: date) -> None:
        self.days = sorted(capacity.open_days)
        self.rate = capacity.weekly_rate
        self.today = today
        self.window_end = window_end

    def day(self, position: int) -> date:
        if position < len(self.days):
            return self.days[position]
        if self.rate <= 0:
            return self.today + timedelta(days=NO_CAPACITY_WAIT_DAYS)
        beyond = position - len(self.days) + 1
        return self.window_end + timedelta(days=math.ceil(beyond * 7 / self.rate))

    def later_than(self, target: date, start: int, stop: int) -> int:
        """How many of the positions ``start`` .. ``stop - 1`` are projected after ``target``."""
        lo, hi = start, stop
        while lo < hi:
            mid = (lo + hi) // 2
            if self.day(mid) > target:
                hi = mid
            else:
                lo = mid + 1
        return stop - lo


def level_for(band: str, predicted_wait_days: int, breaches: int, t: Thresholds) -> str:
    ratio = predicted_wait_days / DEFAULT_TARGET_DAYS.get(band, 105)
    if ratio >= t.critical_ratio or breaches >= t.critical_breaches:
        return "critical"
    if ratio >= t.high_ratio or breaches >= 1:
        return "high"
    return "normal"


def from_counts(
    counts: Counts,
    capacity: Mapping[str, Capacity],
    today: date,
    window_end: date,
    thresholds: Thresholds | None = None,
) -> list[BandPressure]:
    """Pressure per hospital and band from the counts alone: O(buckets), whatever the list's length.

    A hospital's queue is its buckets in fair order (urgent, band, referral date); within
    one (urgent, band, referral date) the true order is by score, which only matters when
    those families have different target dates (urgent deadlines), and there the earlier
    target is taken first.
    """
    t = thresholds or Thresholds()
    rows = []
    for hospital_id in sorted(capacity):
        cap = capacity[hospital_id]
        projection = Projection(cap, today, window_end)
        queue = sorted(
            (not urgent, BAND_RANK[band], referred, target, band, n)
            for band, buckets in counts.get(hospital_id, {}).items()
            if band in BAND_RANK
            for (urgent, referred, target), n in buckets.items()
            if n > 0
        )
        waiting: Counter[str] = Counter()
        breaches: Counter[str] = Counter()
        oldest: dict[str, int] = {}
        position = 0
        for _, _, referred, target, band, n in queue:
            breaches[band] += projection.later_than(target, position, position + n)
            waiting[band] += n
            oldest[band] = max(oldest.get(band, (today - referred).days), (today - referred).days)
            position += n
        for band in BANDS:
            ahead = sum(waiting[b] for b in BANDS if BAND_RANK[b] <= BAND_RANK[band])
            wait = (projection.day(ahead) - today).days
            rows.append(
                BandPressure(
                    hospital_id,
                    band,
                    waiting[band],
                    len(cap.open_days),
                    wait,
                    breaches[band],
                    oldest.get(band, 0),
                    level_for(band, wait, breaches[band], t),
                )
            )
    return rows


def compute(
    entries: Sequence[Entry],
    home: Mapping[str, str],
    capacity: Mapping[str, Capacity],
    today: date,
    window_end: date,
    thresholds: Thresholds | None = None,
) -> list[BandPressure]:
    """Pressure from a list of families (tests, benchmarks): their histogram, then :func:`from_counts`."""
    return from_counts(histogram(entries, home), capacity, today, window_end, thresholds)


def spare_capacity(rows: Sequence[BandPressure]) -> dict[str, int]:
    """Open slots in the window minus families waiting, per hospital (negative when oversubscribed)."""
    spare: dict[str, int] = defaultdict(int)
    for r in rows:
        spare[r.hospital_id] = r.capacity
    for r in rows:
        spare[r.hospital_id] -= r.waiting
    return spare


def movable(rows: Sequence[BandPressure], min_gain_days: int = 7) -> list[BandPressure]:
    """Pressured rows from which :func:`suggestions` could move anyone: the only queues it needs to read."""
    spare = spare_capacity(rows)
    return [
        source
        for source in rows
        if source.level != "normal"
        and any(
            o.band == source.band
            and o.hospital_id != source.hospital_id
            and spare[o.hospital_id] > 0
            and o.predicted_wait_days + min_gain_days <= source.predicted_wait_days
            for o in rows
        )
    ]


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
    spare = spare_capacity(rows)
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
