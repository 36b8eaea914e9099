"""Readiness checks shared by every service: its store and, on the stack, the broker."""

from __future__ import annotations

from pymongo.database import Database

from shared import kafka, store
from shared.http import Check
from shared.settings import Settings


def checks(settings: Settings, db: Database) -> dict[str, Check]:
    found: dict[str, Check] = {"store": lambda: store.ping(db)}
    if not settings.embedded:
        found["kafka"] = lambda: kafka.ping(settings.kafka_bootstrap)
    return found
