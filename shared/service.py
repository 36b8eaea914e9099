"""What a composed service hands to the runtime: its app, its outbox, what it consumes.

Each service's ``bootstrap.build()`` returns one of these; :mod:`shared.runtime` then
runs it as gunicorn + a worker process (stack) or as threads in one process (embedded).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from flask import Flask
from pymongo.database import Database

from shared import topics
from shared.consumer import Handler, Subscription
from shared.housekeeping import Retention
from shared.outbox import Outbox
from shared.settings import Settings


@dataclass
class Service:
    settings: Settings
    db: Database
    app: Flask
    outbox: Outbox | None = None
    """Where the service's event-carrying writes go (see shared.outbox); None if it emits nothing."""
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    """Consumed event short name → handler."""
    consumes: Sequence[str] = ()
    """Topics this service's consumer group reads."""
    background: Sequence[Callable[[threading.Event], None]] = ()
    """Periodic duties (e.g. due reminders) the worker runs on threads until the event is set."""
    retained: Sequence[Retention] = ()
    """The service's own collections the worker prunes by age (shared.housekeeping)."""

    @property
    def name(self) -> str:
        return self.settings.service

    @property
    def topic(self) -> str:
        return topics.events(self.name)

    def subscription(self) -> Subscription | None:
        if not self.handlers:
            return None
        return Subscription(
            group=self.name,
            topics=tuple(self.consumes),
            handlers=self.handlers,
            dead_letter_topic=topics.dead_letters(self.name),
        )
