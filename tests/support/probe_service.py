"""A minimal service built only from shared/, to prove the mechanism end to end.

It owns ``pings`` (documents that carry an outbox) and consumes its own
``probe.pinged`` events, recording each effect idempotently. Poison pings raise.
Run as a worker process with ``python -m tests.support.probe_service``; set
``PROBE_CRASH_AFTER_EFFECT=1`` to die after the effect and before the commit, and
``PROBE_DUTY_MARKS=1`` to give it a background duty that marks ``duty_marks`` with its pid
every 0.1 s (which worker leads the duties).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any

from flask import Flask
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from shared import health, inbox, logs, store, topics
from shared.events import Event, event_type
from shared.http import create_app
from shared.outbox import Outbox
from shared.runtime import serve_worker
from shared.service import Service
from shared.settings import Settings

NAME = os.environ.get("PROBE_NAME", "probe")
PINGED = event_type("probe.pinged")


class PoisonError(ValueError):
    pass


def ping(service: Service, ping_id: str, *, poison: bool = False, correlation_id: str | None = None) -> Event:
    """Write a ping and its event in one document insert (the outbox)."""
    kwargs: dict[str, Any] = {"correlation_id": correlation_id} if correlation_id else {}
    event = Event(
        PINGED, f"/services/{service.name}", ping_id, {"ping_id": ping_id, "poison": poison}, **kwargs
    )
    assert service.outbox is not None
    service.outbox.insert_one(service.db.pings, {"_id": ping_id, "poison": poison}, [event])
    return event


def handle_pinged(db: Database, event: Event) -> None:
    if event.data.get("poison"):
        raise PoisonError(f"ping {event.subject} is poison")
    # Every run of the handler past the inbox, so a test can tell a duplicate apart from a retry.
    db.handled.insert_one({"ping_id": event.data["ping_id"], "pid": os.getpid()})
    with contextlib.suppress(DuplicateKeyError):
        db.effects.insert_one({"_id": event.dedupe_key, "ping_id": event.data["ping_id"], "pid": os.getpid()})
    db.tallies.update_one(
        inbox.once(event, {"_id": "total"}), inbox.record_applied(event, {"$inc": {"n": 1}})
    )
    if os.environ.get("PROBE_CRASH_AFTER_EFFECT") == "1":
        os._exit(17)  # effect done, offset not committed, inbox not marked


def mark_duty(db: Database, stop: threading.Event) -> None:
    """A background duty that only says who runs it: one document per pass."""
    while not stop.is_set():
        db.duty_marks.insert_one({"pid": os.getpid(), "at": time.time()})
        stop.wait(0.1)


def build(settings: Settings, db: Database | None = None) -> Service:
    db = db if db is not None else store.connect(settings)
    with contextlib.suppress(DuplicateKeyError):  # two workers starting at once race this upsert (FerretDB)
        db.tallies.update_one({"_id": "total"}, {"$setOnInsert": {"n": 0}}, upsert=True)
    app: Flask = create_app(settings.service, title="Probe", checks=health.checks(settings, db))
    return Service(
        settings=settings,
        db=db,
        app=app,
        outbox=None if os.environ.get("PROBE_CONSUME_ONLY") == "1" else Outbox.for_settings(db, settings),
        handlers={"probe.pinged": lambda event: handle_pinged(db, event)},
        consumes=[topics.events(settings.service)],
        background=[lambda stop: mark_duty(db, stop)] if os.environ.get("PROBE_DUTY_MARKS") == "1" else [],
    )


if __name__ == "__main__":
    settings = Settings.from_env(NAME)
    logs.configure(NAME, settings.log_level)
    serve_worker(build(settings))
