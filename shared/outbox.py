"""The transactional outbox, without transactions: events ride in the aggregate's own document.

FerretDB 1.x (and a MongoDB without a replica set) has no multi-document transactions,
so a state change and the events it causes are written in ONE insert or update: the
events are appended to the document's ``outbox`` array and ``outbox_at`` is stamped by
the same write. A crash can never keep one without the other.

The relay never writes to aggregate documents. FerretDB 1.x applies every update as
read-modify-write of the whole document, so a relay that removed published entries
would race the service's own writers and could erase their new events (measured: 9
of 300 lost). Instead the outbox array is append-only, the relay records what it has
published in ``outbox_published`` (an insert-only collection keyed by event id, the one
operation FerretDB makes atomic), and it finds new work by ``outbox_at``, re-reading a
safety margin behind its watermark so that a write stamped earlier but committed later
is still seen. Publishing happens before recording, so a crash in between republishes
the same event id; consumers dedupe on it (at-least-once).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from shared import metrics
from shared.events import Event, to_kafka
from shared.messaging import Publisher

log = logging.getLogger(__name__)

FIELD = "outbox"
STAMP = "outbox_at"
PUBLISHED = "outbox_published"
RELAY_STATE = "outbox_relay"
DEFAULT_MARGIN = timedelta(seconds=10)
DUPLICATE_KEY = 11000


def _now() -> datetime:
    return datetime.now(UTC)


def with_events(update: dict[str, Any], events: Sequence[Event]) -> dict[str, Any]:
    """Add ``events`` to an ``update_one`` update document (appended, stamped)."""
    if not events:
        return update
    push = dict(update.get("$push", {}))
    push[FIELD] = {"$each": [e.to_dict() for e in events]}
    set_ = {**update.get("$set", {}), STAMP: _now()}
    return {**update, "$push": push, "$set": set_}


def new_document(doc: dict[str, Any], events: Sequence[Event]) -> dict[str, Any]:
    """Add ``events`` to a document about to be inserted."""
    extra: dict[str, Any] = {FIELD: [e.to_dict() for e in events]}
    if events:
        extra[STAMP] = _now()
    return {**doc, **extra}


class OutboxRelay:
    """Moves new outbox entries to the bus in document order; one relay per service."""

    def __init__(
        self,
        service: str,
        collections: Sequence[Collection],
        publisher: Publisher,
        topic: str,
        wake: threading.Event | None = None,
        margin: timedelta = DEFAULT_MARGIN,
    ) -> None:
        self.service = service
        self._collections = list(collections)
        self._publisher = publisher
        self._topic = topic
        self._wake = wake or threading.Event()
        self._margin = margin

    def ensure_index(self) -> None:
        """The relay reads every collection by ``outbox_at`` several times a second: index it once, here."""
        for collection in self._collections:
            collection.create_index([(STAMP, 1)], name=STAMP)

    def run_once(self) -> int:
        """Publish every entry not yet published; returns how many events went out."""
        published = sum(self._relay(collection) for collection in self._collections)
        metrics.OUTBOX_PENDING.labels(self.service).set(0)
        return published

    def pending(self) -> int:
        """Entries in the relay's window that are not yet published (the backlog)."""
        return sum(len(self._unpublished(collection)[0]) for collection in self._collections)

    def _unpublished(self, collection: Collection) -> tuple[list[Event], datetime | None]:
        db = collection.database
        mark = db[RELAY_STATE].find_one({"_id": collection.name})
        query: dict[str, Any] = {STAMP: {"$exists": True}}
        if mark:
            query = {STAMP: {"$gte": _aware(mark["watermark"]) - self._margin}}
        docs = list(collection.find(query, {FIELD: 1, STAMP: 1}).sort(STAMP, 1))
        if not docs:
            return [], None
        entries = [entry for doc in docs for entry in doc.get(FIELD, [])]
        ids = [e["id"] for e in entries]
        done = {d["_id"] for d in db[PUBLISHED].find({"_id": {"$in": ids}}, {"_id": 1})}
        fresh = [Event.from_dict(e) for e in entries if e["id"] not in done]
        return fresh, max(_aware(doc[STAMP]) for doc in docs)

    def _relay(self, collection: Collection) -> int:
        fresh, watermark = self._unpublished(collection)
        if fresh:
            metrics.OUTBOX_PENDING.labels(self.service).set(len(fresh))
            self._publisher.send_many(self._topic, [to_kafka(e) for e in fresh])
            self._record(collection.database[PUBLISHED], fresh)
            for event in fresh:
                metrics.EVENTS_PUBLISHED.labels(self.service, event.name).inc()
        if watermark is not None:
            collection.database[RELAY_STATE].replace_one(
                {"_id": collection.name}, {"_id": collection.name, "watermark": watermark}, upsert=True
            )
        return len(fresh)

    @staticmethod
    def _record(published_ids: Collection, events: Sequence[Event]) -> None:
        now = _now()
        try:
            published_ids.insert_many([{"_id": e.id, "at": now} for e in events], ordered=False)
        except BulkWriteError as exc:  # already recorded by an earlier, interrupted pass
            if any(err.get("code") != DUPLICATE_KEY for err in exc.details.get("writeErrors", [])):
                raise

    def run(self, stop: threading.Event, interval_s: float) -> None:
        """Publish until ``stop`` is set; an unreachable broker or store is retried, never fatal."""
        indexed = False
        while not stop.is_set():
            try:
                if not indexed:
                    self.ensure_index()
                    indexed = True
                if self.run_once():
                    continue
            except Exception:
                log.exception("outbox relay pass failed; retrying", extra={"topic": self._topic})
                stop.wait(min(5.0, interval_s * 10))
            self._wake.wait(interval_s)
            self._wake.clear()


def _aware(value: datetime) -> datetime:
    """Stores without tz_aware clients hand back naive UTC datetimes."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
