"""The transactional outbox, without transactions: events ride in the aggregate's own document.

FerretDB 1.x (and a MongoDB without a replica set) has no multi-document transactions,
so a state change and the events it causes are written in ONE document update: the
events are pushed onto the document's ``outbox`` array by the same ``update_one`` or
``insert_one`` that changes the state. A crash can therefore never keep one without the
other. The relay publishes each pending event (acks=all) and only then pulls it from the
array, so a crash between the two republishes with the same event id and consumers
dedupe it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from pymongo.collection import Collection

from shared import metrics
from shared.events import Event, to_kafka
from shared.messaging import Publisher

log = logging.getLogger(__name__)

FIELD = "outbox"
PENDING = {f"{FIELD}.0": {"$exists": True}}


def with_events(update: dict[str, Any], events: Sequence[Event]) -> dict[str, Any]:
    """Add ``events`` to an ``update_one`` update document."""
    if not events:
        return update
    push = dict(update.get("$push", {}))
    push[FIELD] = {"$each": [e.to_dict() for e in events]}
    return {**update, "$push": push}


def new_document(doc: dict[str, Any], events: Sequence[Event]) -> dict[str, Any]:
    """Add ``events`` to a document about to be inserted."""
    return {**doc, FIELD: [e.to_dict() for e in events]}


class OutboxRelay:
    """Moves pending events from documents to the bus, oldest documents first."""

    def __init__(
        self,
        service: str,
        collections: Sequence[Collection],
        publisher: Publisher,
        topic: str,
        batch_size: int = 200,
        wake: threading.Event | None = None,
    ) -> None:
        self.service = service
        self._collections = list(collections)
        self._publisher = publisher
        self._topic = topic
        self._batch_size = batch_size
        self._wake = wake or threading.Event()

    def notify(self) -> None:
        """Wake the relay now (in-process writers call this instead of waiting for the next tick)."""
        self._wake.set()

    def run_once(self) -> int:
        published = 0
        for collection in self._collections:
            for doc in collection.find(PENDING, {FIELD: 1}).limit(self._batch_size):
                events = [Event.from_dict(e) for e in doc[FIELD]]
                self._publisher.send_many(self._topic, [to_kafka(e) for e in events])
                # $pullAll on the exact stored entries: FerretDB 1.x ignores $pull conditions.
                collection.update_one({"_id": doc["_id"]}, {"$pullAll": {FIELD: doc[FIELD]}})
                for event in events:
                    metrics.EVENTS_PUBLISHED.labels(self.service, event.name).inc()
                published += len(events)
        metrics.OUTBOX_PENDING.labels(self.service).set(self.pending())
        return published

    def pending(self) -> int:
        return sum(c.count_documents(PENDING) for c in self._collections)

    def run(self, stop: threading.Event, interval_s: float) -> None:
        """Publish until ``stop`` is set; an unreachable broker or store is retried, never fatal."""
        while not stop.is_set():
            try:
                if self.run_once():
                    continue
            except Exception:
                log.exception("outbox relay pass failed; retrying", extra={"topic": self._topic})
                stop.wait(min(5.0, interval_s * 10))
            self._wake.wait(interval_s)
            self._wake.clear()
