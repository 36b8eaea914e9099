"""The transactional outbox, without transactions: intent, write, publish — and a sweeper for crashes.

FerretDB 1.x (and a MongoDB without a replica set) has no multi-document transactions,
and its updates are read-modify-writes of the whole document, so nothing but the writer
may touch an aggregate. A write that causes events therefore goes in three steps:

1. **intent** — one small document per write is inserted into ``outbox_pending``, keyed
   by a fresh random id (never an event id: a retried write of events whose ids are derived
   from their cause must not clash with its own leftover intent), listing its events' ids
   and naming the aggregate (one
   per write, not per event: on FerretDB every inserted or deleted document is a store
   statement of ~1 ms CPU, and the delete in step 3 paid it once per event);
2. **write** — the aggregate's own insert or update carries the same events in its
   append-only ``outbox`` array: the proof that the state change happened;
3. **publish** — the process that wrote publishes the events right away (in write order,
   from a dispatcher thread, or inline in the embedded platform) and deletes their
   intents.

A crash before step 2 leaves intents without proof: the sweeper drops them once they are
older than ``abandon_after`` (a write cannot land that late). A crash or a broker outage
between 2 and 3 leaves intents whose aggregate holds the events: the sweeper in the
service's worker publishes them once they are older than ``grace``. Consumers dedupe on
the event id, so an event published by both the writer and the sweeper is harmless
(at-least-once). ``outbox_pending`` holds only events in flight, so it stays small by
construction and nothing ever scans the aggregates.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import queue
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import DeleteOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, OperationFailure
from pymongo.results import InsertOneResult, UpdateResult

from shared import metrics, topics
from shared.events import Event, to_kafka
from shared.messaging import Publisher
from shared.settings import Settings

log = logging.getLogger(__name__)

FIELD = "outbox"
PENDING = "outbox_pending"
DEFAULT_GRACE = timedelta(seconds=5)
DEFAULT_ABANDON_AFTER = timedelta(minutes=10)
SWEEP_BATCH = 500
QUEUE_BOUND = 10_000
"""Writes waiting for the dispatcher; beyond it (a long broker outage) the sweeper publishes them."""
FORGET_LINGER_S = 0.2
FORGET_BATCH = 500
"""The dispatcher deletes published intents in one command per ``FORGET_LINGER_S`` (or per
``FORGET_BATCH`` ids), not one per burst: a consumer writing an event every few milliseconds
otherwise paid a delete for nearly every write. Far inside the sweeper's ``grace``, so a
lingering intent is never re-published (and if it were, consumers dedupe)."""


def _now() -> datetime:
    return datetime.now(UTC)


def with_events(update: dict[str, Any], events: Sequence[Event]) -> dict[str, Any]:
    """Add ``events`` to an ``update_one`` update document (appended to the aggregate's outbox)."""
    if not events:
        return update
    push = dict(update.get("$push", {}))
    push[FIELD] = {"$each": [e.to_dict() for e in events]}
    return {**update, "$push": push}


def new_document(doc: dict[str, Any], events: Sequence[Event]) -> dict[str, Any]:
    """Add ``events`` to a document about to be inserted."""
    return {**doc, FIELD: [e.to_dict() for e in events]}


class Outbox:
    """A service's writes that carry events, and the publishing that follows them.

    ``connect`` makes the publisher on first use, in the process and thread that will use
    it (gunicorn forks after import). ``inline`` publishes inside the write call (the
    embedded platform, where publishing is an append to a list); otherwise a dispatcher
    thread publishes in the background so a request never waits for the broker.
    """

    def __init__(
        self,
        db: Database,
        service: str,
        topic: str,
        connect: Callable[[], Publisher] | None = None,
        *,
        inline: bool = False,
    ) -> None:
        self.db = db
        self.service = service
        self.topic = topic
        self.pending = db[PENDING]
        self._connect = connect
        self._publisher: Publisher | None = None
        self._inline = inline
        self._lock = threading.Lock()
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=QUEUE_BOUND)
        self._dispatcher: threading.Thread | None = None
        self._pid = os.getpid()
        self._seq = itertools.count()

    @classmethod
    def for_settings(cls, db: Database, settings: Settings) -> Outbox:
        """The outbox of a service: inline on the embedded bus (attached by the runtime), Kafka otherwise."""
        topic = topics.events(settings.service)
        if settings.embedded:
            return cls(db, settings.service, topic, inline=True)

        def connect() -> Publisher:
            from shared.kafka import KafkaPublisher  # only stack processes need kafka-python's producer

            return KafkaPublisher(settings.kafka_bootstrap, f"{settings.service}-{os.getpid()}")

        return cls(db, settings.service, topic, connect)

    # -- writes --------------------------------------------------------------
    def insert_one(
        self, collection: Collection, doc: dict[str, Any], events: Sequence[Event]
    ) -> InsertOneResult:
        """Insert ``doc`` carrying ``events``; a DuplicateKeyError (a lost race) leaves no event behind."""
        intent = self._intend(collection, doc["_id"], events)
        try:
            result = collection.insert_one(new_document(doc, events))
        except DuplicateKeyError:
            self._withdraw(intent)
            raise
        self._dispatch(intent, events)
        return result

    def update_one(
        self,
        collection: Collection,
        query: Mapping[str, Any],
        update: dict[str, Any],
        events: Sequence[Event],
        *,
        doc_id: Any = None,
        upsert: bool = False,
    ) -> UpdateResult:
        """Update one document with ``events``; when nothing matched, the events are withdrawn.

        The aggregate's id is ``query["_id"]`` unless given as ``doc_id``: the sweeper
        looks the events up there to tell a crash after the write from one before it.
        """
        aggregate = doc_id if doc_id is not None else query["_id"]
        intent = self._intend(collection, aggregate, events)
        try:
            result = collection.update_one(dict(query), with_events(update, events), upsert=upsert)
        except (DuplicateKeyError, OperationFailure) as exc:
            if _is_duplicate(exc):
                self._withdraw(intent)
            raise
        if result.matched_count == 0 and result.upserted_id is None:
            self._withdraw(intent)
        else:
            self._dispatch(intent, events)
        return result

    # -- publishing -----------------------------------------------------------
    def attach(self, publisher: Publisher) -> None:
        """Publish through ``publisher`` (the worker's producer, or the embedded bus)."""
        self._publisher = publisher

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every event handed to the dispatcher has been published (or failed)."""
        if self._dispatcher is not None and self._dispatcher.is_alive():
            done = threading.Event()
            self._queue.put(done)
            done.wait(timeout_s)

    def close(self) -> None:
        if self._dispatcher is not None and self._dispatcher.is_alive():
            self.flush(5.0)
            self._queue.put(None)
            self._dispatcher.join(5.0)

    def publish(self, events: Sequence[Event], intents: Sequence[str]) -> None:
        """Send ``events`` in order, then forget the ``intents`` (ids) that recorded them.
        Raises if the bus refused them."""
        if not events:
            return
        self._send(events)
        self.forget(intents)

    def _send(self, events: Sequence[Event]) -> None:
        publisher = self._publisher_now()
        if publisher is None:
            raise ConnectionError(f"{self.service}: no publisher attached")
        publisher.send_many(self.topic, [to_kafka(e) for e in events])
        for event in events:
            metrics.EVENTS_PUBLISHED.labels(self.service, event.name).inc()

    def _publisher_now(self) -> Publisher | None:
        with self._lock:
            if self._publisher is None and self._connect is not None:
                self._publisher = self._connect()
            return self._publisher

    def _intend(self, collection: Collection, doc_id: Any, events: Sequence[Event]) -> str | None:
        """Record the events as in flight: their ids and where the proof will be, not the events.

        The sweeper takes a proven event from the aggregate's ``outbox`` (it reads that
        anyway to prove the write happened), so the intent stays a small document: on
        FerretDB an insert costs in proportion to what it stores.
        """
        if not events:
            return None
        intent = uuid.uuid4().hex  # not an event id: see the module docstring, step 1
        self.pending.insert_one(
            {
                "_id": intent,
                "events": [e.id for e in events],
                "collection": collection.name,
                "doc_id": doc_id,
                "at": _now(),  # stores keep milliseconds: ``seq`` orders this process's writes within one
                "seq": next(self._seq),
            }
        )
        return intent

    def _withdraw(self, intent: str | None) -> None:
        if intent is not None:
            self.forget([intent])

    def forget(self, ids: Sequence[str]) -> None:
        """Delete intents by ``_id``: one command whose every statement is an ``_id`` equality.

        Not ``{_id: {$in: ids}}``: FerretDB 1.x pushes only equality down, so ``$in`` scans
        the collection, and a backlog (a broker outage) would make every delete slower
        (measured: 2 ids among 1,400 intents 205 ms of FerretDB CPU; as equalities 1.9 ms).
        """
        if ids:
            self.pending.bulk_write([DeleteOne({"_id": i}) for i in ids], ordered=False)

    def _dispatch(self, intent: str | None, events: Sequence[Event]) -> None:
        if intent is None:
            return
        if self._inline:
            if self._publisher is None:
                return  # not attached to a bus yet (a unit under test): the intents wait for a sweeper
            try:
                self.publish(events, [intent])
            except Exception as exc:
                log.warning("publish after write failed; the sweeper will retry", extra={"error": repr(exc)})
            return
        self._ensure_dispatcher()
        try:
            self._queue.put_nowait((intent, list(events)))
        except queue.Full:
            log.warning(
                "outbox dispatcher backlog full; the sweeper will publish", extra={"events": len(events)}
            )

    def _ensure_dispatcher(self) -> None:
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's thread and producer do not exist here
                self._pid, self._publisher = os.getpid(), None
                self._queue, self._dispatcher = queue.Queue(maxsize=QUEUE_BOUND), None
            if self._dispatcher is None or not self._dispatcher.is_alive():
                self._dispatcher = threading.Thread(
                    target=self._run_dispatcher, name=f"{self.service}-outbox", daemon=True
                )
                self._dispatcher.start()
                atexit.register(self.close)

    def _run_dispatcher(self) -> None:
        """Publish each burst of writes as it comes; delete their intents together (``FORGET_LINGER_S``)."""
        sent: list[str] = []  # published, intents not yet deleted
        due = 0.0
        while True:
            try:
                timeout = max(0.0, due - time.monotonic()) if sent else None
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                sent = self._forget_sent(sent)
                continue
            if item is None:
                self._forget_sent(sent)
                return
            batch, intents, flushes = self._drain(item)
            if batch:
                try:
                    self._send(batch)
                except Exception as exc:
                    log.warning(
                        "publish after write failed; the sweeper will publish these",
                        extra={"events": len(batch), "error": repr(exc)},
                    )
                else:
                    if not sent:
                        due = time.monotonic() + FORGET_LINGER_S
                    sent += intents  # one intent per write (its id), not per event
            if sent and (flushes or len(sent) >= FORGET_BATCH or time.monotonic() >= due):
                sent = self._forget_sent(sent)
            for done in flushes:
                done.set()

    def _forget_sent(self, ids: list[str]) -> list[str]:
        """Delete published intents; on failure the sweeper finds them proven and re-publishes (deduped)."""
        try:
            self.forget(ids)
        except Exception as exc:
            log.warning("deleting published intents failed", extra={"events": len(ids), "error": repr(exc)})
        return []

    def _drain(self, first: _Item) -> tuple[list[Event], list[str], list[threading.Event]]:
        """Everything queued so far, in order: one send and one delete for a burst of writes."""
        batch: list[Event] = []
        intents: list[str] = []
        flushes: list[threading.Event] = []
        item: _Item = first
        while item is not None:
            if isinstance(item, threading.Event):
                flushes.append(item)
            else:
                intents.append(item[0])
                batch.extend(item[1])
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:  # close(): finish this burst, then stop
                self._queue.put(None)
        return batch, intents, flushes


_Item = tuple[str, list[Event]] | threading.Event | None
"""Dispatcher queue entries: a write's intent id and events, a flush request, or the stop sentinel."""


class OutboxSweeper:
    """Publishes what writers left behind (a crash, a broker outage); one per service worker."""

    def __init__(
        self,
        outbox: Outbox,
        grace: timedelta = DEFAULT_GRACE,
        abandon_after: timedelta = DEFAULT_ABANDON_AFTER,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.outbox = outbox
        self._grace = grace
        self._abandon_after = abandon_after
        self._clock = clock

    def ensure_index(self) -> None:
        self.outbox.pending.create_index([("at", 1), ("seq", 1)], name="pending_order")

    def pending(self) -> int:
        """Writes whose events are not yet published (the backlog, one intent per write), whatever their age."""
        return self.outbox.pending.count_documents({})

    def run_once(self) -> int:
        """Publish every intent older than the grace whose aggregate holds it; returns how many."""
        now = self._clock()
        entries = list(
            self.outbox.pending.find({"at": {"$lt": now - self._grace}})
            .sort([("at", 1), ("seq", 1)])
            .limit(SWEEP_BATCH)
        )
        proven = self._proven(entries)
        done = [e for e in entries if _event_ids(e)[0] in proven]  # a write's events land together
        ready = [Event.from_dict(proven[i]) for e in done for i in _event_ids(e) if i in proven]
        if ready:
            self.outbox.publish(ready, [e["_id"] for e in done])
            log.info("sweeper published events left by a writer", extra={"events": len(ready)})
        stale = [
            e["_id"]
            for e in entries
            if _event_ids(e)[0] not in proven and _aware(e["at"]) < now - self._abandon_after
        ]
        if stale:  # intents of writes that never happened (the writer died before its write)
            self.outbox.forget(stale)
        metrics.OUTBOX_PENDING.labels(self.outbox.service).set(self.pending())
        return len(ready)

    def _proven(self, entries: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        """The events (by id) of the intents whose aggregate carries them, taken from the
        aggregate's ``outbox``: one ``_id`` lookup per aggregate.

        Lookups one by one rather than ``_id $in``: FerretDB 1.x pushes only equality down to
        its indexes, and this runs only for what a writer left behind.
        """
        wanted: dict[tuple[str, Any], set[str]] = defaultdict(set)
        for entry in entries:
            wanted[(entry["collection"], entry["doc_id"])].update(_event_ids(entry))
        proven: dict[str, dict[str, Any]] = {}
        for (name, doc_id), ids in wanted.items():
            doc = self.outbox.db[name].find_one({"_id": doc_id}, {FIELD: 1})
            if doc is not None:
                proven.update({e["id"]: e for e in doc.get(FIELD, []) if e["id"] in ids})
        return proven

    def run(self, stop: threading.Event, interval_s: float) -> None:
        """Sweep until ``stop`` is set; an unreachable broker or store is retried, never fatal."""
        indexed = False
        while not stop.is_set():
            try:
                if not indexed:
                    self.ensure_index()
                    indexed = True
                if self.run_once() >= SWEEP_BATCH:
                    continue
            except Exception:
                log.exception("outbox sweep failed; retrying", extra={"topic": self.outbox.topic})
                stop.wait(min(5.0, interval_s * 10))
            stop.wait(interval_s)


def _event_ids(entry: Mapping[str, Any]) -> list[str]:
    """The events an intent covers, in write order (an intent from before intents covered a
    write is keyed by its one event's id and lists none)."""
    return entry.get("events") or [entry["_id"]]


def _is_duplicate(exc: Exception) -> bool:
    """A unique-key violation: DuplicateKeyError on inserts, OperationFailure code 1 from FerretDB updates."""
    if isinstance(exc, DuplicateKeyError):
        return True
    return isinstance(exc, OperationFailure) and (exc.code in (1, 11000) and "duplicate" in str(exc).lower())


def _aware(value: datetime) -> datetime:
    """Stores without tz_aware clients hand back naive UTC datetimes."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
