"""What every scheduling operation needs: its store, the time, its settings and its outbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from pymongo.database import Database

from services.scheduling.config import Clock, Config, system_clock
from shared import topics
from shared.outbox import Outbox


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

    def __post_init__(self) -> None:
        if self.outbox is None:
            self.outbox = Outbox(self.db, "scheduling", topics.events("scheduling"), inline=True)

    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        """Today in the region's time zone: waits and targets are counted in local days."""
        return self.clock().astimezone(self.config.tz).date()

    @property
    def writes(self) -> Outbox:
        assert self.outbox is not None
        return self.outbox
