"""Pruning the bookkeeping that only grows: the inbox's claims and batches, and whatever a service
registers (idempotency records, claims).

FerretDB 1.x has no TTL indexes, so each worker deletes entries older than their retention.
The inbox is always pruned after 14 days (``DEFAULT_RETENTION``: twice Kafka's default
7-day log retention, so no record the broker still holds can be redelivered without its
inbox entry). Handlers stay idempotent on their own (documents keyed by events,
``applied_events``), so even a replay older than the retention applies once. The outbox's
intents need no pruning: each is deleted once its event is out (shared.outbox).

A service adds its own collections with :class:`Retention` entries on ``Service.retained``
(collection, the timestamp field, how long to keep); that field should be indexed, since
the delete filters on it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pymongo.database import Database

from shared.inbox import BATCHES
from shared.inbox import COLLECTION as PROCESSED

log = logging.getLogger(__name__)

DEFAULT_RETENTION = timedelta(days=14)
INTERVAL_S = 3600.0


@dataclass(frozen=True)
class Retention:
    """Delete documents of ``collection`` whose ``field`` (a datetime) is older than ``keep``."""

    collection: str
    field: str
    keep: timedelta


def prune(
    db: Database,
    now: datetime,
    retention: timedelta = DEFAULT_RETENTION,
    extra: Sequence[Retention] = (),
) -> dict[str, int]:
    """One pass: how many documents each collection lost. ``extra`` are a service's own entries."""
    rules = [Retention(PROCESSED, "at", retention), Retention(BATCHES, "at", retention), *extra]
    removed: dict[str, int] = {}
    for rule in rules:
        gone = db[rule.collection].delete_many({rule.field: {"$lt": now - rule.keep}}).deleted_count
        removed[rule.collection] = removed.get(rule.collection, 0) + gone
    return removed


def duty(
    db: Database,
    retention: timedelta = DEFAULT_RETENTION,
    clock: Callable[[], datetime] | None = None,
    extra: Sequence[Retention] = (),
) -> Callable[[threading.Event], None]:
    """A worker duty: prune at start, then hourly, until stopped; a failed pass is retried next hour."""
    clock = clock or (lambda: datetime.now(UTC))

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                removed = prune(db, clock(), retention, extra)
                if any(removed.values()):
                    log.info("pruned bookkeeping", extra={"removed": removed})
            except Exception:
                log.exception("pruning failed; will retry")
            stop.wait(INTERVAL_S)

    return run
