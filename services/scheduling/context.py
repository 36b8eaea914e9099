"""What every scheduling operation needs: its store, the time, its settings and the relay's wake-up."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, datetime

from pymongo.database import Database

from services.scheduling.config import Clock, Config, system_clock


class NotFound(LookupError):
    """The thing asked for does not exist (404)."""


class Conflict(RuntimeError):
    """The thing exists but is not in a state that allows this (409): someone else got there first."""


@dataclass
class Scheduling:
    db: Database
    config: Config = field(default_factory=Config)
    clock: Clock = system_clock
    written: threading.Event = field(default_factory=threading.Event)

    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        """Today in the region's time zone: waits and targets are counted in local days."""
        return self.clock().astimezone(self.config.tz).date()

    def notify(self) -> None:
        """Wake the outbox relay after writing events."""
        self.written.set()
