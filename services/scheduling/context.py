"""What every scheduling operation needs: its store, the time, its settings and its outbox."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime

from pymongo.database import Database

from services.scheduling import repository as repo
from services.scheduling.config import Clock, Config, system_clock
from services.scheduling.domain.model import Hospital
from services.scheduling.openings import EmptyWeeks
from shared import topics
from shared.outbox import Outbox

HOSPITALS_TTL_S = 5.0
"""How stale the consumer's copy of the hospitals may be (``Scheduling.hospitals``)."""


class NotFound(LookupError):
    """The thing asked for does not exist (404)."""


class Conflict(RuntimeError):
    """The thing exists but is not in a state that allows this (409): someone else got there first."""


@dataclass
class Scheduling:
    db: Database
    config: Config = field(default_factory=Config)
    clock: Clock = system_clock
    outbox: Outbox | None = None
    """Event-carrying writes go through it; the default (seeding, tests) publishes nothing until attached."""

    empty_weeks: EmptyWeeks = field(default_factory=EmptyWeeks, repr=False, compare=False)
    """Weeks this process found without an open intake slot (services/scheduling/openings.py)."""
    _hospitals: tuple[float, list[Hospital]] | None = field(default=None, repr=False, compare=False)
    _hospitals_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.outbox is None:
            self.outbox = Outbox(self.db, "scheduling", topics.events("scheduling"), inline=True)

    def hospitals(self) -> list[Hospital]:
        """The region's hospitals, read at most every ``HOSPITALS_TTL_S`` seconds (triage reads them per event).

        The bound: a hospital added, changed or closed in another process (an administrator's
        PUT on the API) is seen by this one's triages within ``HOSPITALS_TTL_S``. A triage in
        that window computes eligibility from the old list, exactly as one that read the store
        just before the PUT would (the PUT's eligibility refresh may pass it by either way); a
        change made through this context forgets the copy at once (``forget_hospitals``).
        Request paths that must see a change at once read ``repository.hospitals`` instead.
        """
        with self._hospitals_lock:
            cached = self._hospitals
            if cached is not None and time.monotonic() - cached[0] < HOSPITALS_TTL_S:
                return cached[1]
        found = repo.hospitals(self.db)
        with self._hospitals_lock:
            self._hospitals = (time.monotonic(), found)
        return found

    def forget_hospitals(self) -> None:
        with self._hospitals_lock:
            self._hospitals = None

    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        """Today in the region's time zone: waits and targets are counted in local days."""
        return self.clock().astimezone(self.config.tz).date()

    @property
    def writes(self) -> Outbox:
        assert self.outbox is not None
        return self.outbox
