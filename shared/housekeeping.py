"""Pruning the bookkeeping that only grows: processed-event ids.

FerretDB 1.x has no TTL indexes, so each worker deletes entries older than the retention
(default 14 days: twice Kafka's default 7-day log retention, so no record the broker still
holds can be redelivered without its inbox entry). Handlers stay idempotent on their own
(documents keyed by events, ``applied_events``), so even a replay older than the retention
applies once. The outbox's intents need no pruning: each is deleted once its event is out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pymongo.database import Database

from shared.inbox import COLLECTION as PROCESSED

log = logging.getLogger(__name__)

DEFAULT_RETENTION = timedelta(days=14)
INTERVAL_S = 3600.0


def prune(db: Database, now: datetime, retention: timedelta = DEFAULT_RETENTION) -> dict[str, int]:
    cutoff = now - retention
    return {name: db[name].delete_many({"at": {"$lt": cutoff}}).deleted_count for name in (PROCESSED,)}


def duty(
    db: Database, retention: timedelta = DEFAULT_RETENTION, clock: Callable[[], datetime] | None = None
) -> Callable[[threading.Event], None]:
    """A worker duty: prune at start, then hourly, until stopped; a failed pass is retried next hour."""
    clock = clock or (lambda: datetime.now(UTC))

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                removed = prune(db, clock(), retention)
                if any(removed.values()):
                    log.info("pruned bookkeeping", extra={"removed": removed})
            except Exception:
                log.exception("pruning failed; will retry")
            stop.wait(INTERVAL_S)

    return run
