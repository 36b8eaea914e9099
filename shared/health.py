"""Readiness checks shared by every service: its store and, on the stack, the broker and its worker."""

from __future__ import annotations

from pymongo.database import Database

from shared import kafka, liveness, store
from shared.http import Check
from shared.settings import Settings


def checks(settings: Settings, db: Database) -> dict[str, Check]:
    found: dict[str, Check] = {"store": lambda: store.ping(db)}
    if not settings.embedded:
        found["kafka"] = lambda: kafka.ping(settings.kafka_bootstrap)
        if settings.heartbeat_dir:
            path = liveness.heartbeat_path(settings.heartbeat_dir, settings.service)
            found["worker"] = liveness.check(path, settings.worker_stall_s)
    return found
