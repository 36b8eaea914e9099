"""The outbox: intent, write, publish by the writer, and the sweeper that covers a writer's crash."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.errors import AutoReconnect, DuplicateKeyError

from shared import outbox
from shared.events import Event, event_type, from_kafka
from shared.memory_bus import MemoryBus
from shared.outbox import PENDING, Outbox, OutboxSweeper
from tests.support.processes import eventually

TOPIC = "waymark.probe.events"


def event(subject: str, n: int = 0) -> Event:
    return Event(event_type("probe.pinged"), "/services/probe", subject, {"n": n})


def published(bus: MemoryBus) -> list[Event]:
    return [from_kafka(r.value, r.headers) for r in bus.records(TOPIC)]


class FailingPublisher(MemoryBus):
    def send_many(self, topic, records):
        raise ConnectionError("broker down")


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def inline(db, publisher=None) -> Outbox:
    box = Outbox(db, "probe", TOPIC, inline=True)
    if publisher is not None:
        box.attach(publisher)
    return box


class TestWrites:
    def test_insert_carries_the_events_and_the_writer_publishes_them(self, db, bus):
        e = event("c1")
        inline(db, bus).insert_one(db.cases, {"_id": "c1", "status": "new"}, [e])
        doc = db.cases.find_one({"_id": "c1"})
        assert doc["outbox"] == [e.to_dict()]
        assert [p.id for p in published(bus)] == [e.id]
        assert bus.records(TOPIC)[0].key == b"c1"
        assert db[PENDING].count_documents({}) == 0  # nothing left for the sweeper

    def test_update_appends_events_alongside_the_state_change_in_order(self, db, bus):
        box = inline(db, bus)
        box.insert_one(db.cases, {"_id": "c1", "status": "new"}, [])
        first, second = event("c1", 1), event("c1", 2)
        box.update_one(db.cases, {"_id": "c1"}, {"$set": {"status": "triaged"}}, [first, second])
        doc = db.cases.find_one({"_id": "c1"})
        assert doc["status"] == "triaged"
        assert [e["id"] for e in doc["outbox"]] == [first.id, second.id]
        assert [p.id for p in published(bus)] == [first.id, second.id]

    def test_an_update_that_matches_nothing_emits_nothing(self, db, bus):
        box = inline(db, bus)
        box.insert_one(db.cases, {"_id": "c1", "version": 2}, [])
        result = box.update_one(db.cases, {"_id": "c1", "version": 1}, {"$set": {"x": 1}}, [event("c1")])
        assert result.matched_count == 0
        assert published(bus) == []
        assert db[PENDING].count_documents({}) == 0

    def test_a_lost_insert_race_emits_nothing(self, db, bus):
        box = inline(db, bus)
        box.insert_one(db.cases, {"_id": "c1"}, [event("c1", 1)])
        with pytest.raises(DuplicateKeyError):
            box.insert_one(db.cases, {"_id": "c1"}, [event("c1", 2)])
        assert [p.data["n"] for p in published(bus)] == [1]
        assert db[PENDING].count_documents({}) == 0

    def test_with_the_broker_down_the_write_stands_and_the_intent_stays(self, db):
        box = inline(db, FailingPublisher())
        box.insert_one(db.cases, {"_id": "c1"}, [event("c1")])
        assert db.cases.find_one({"_id": "c1"}) is not None
        assert db[PENDING].count_documents({}) == 1

    def test_the_background_dispatcher_publishes_in_write_order(self, db, bus):
        box = Outbox(db, "probe", TOPIC)
        box.attach(bus)
        events = [event(f"c{n}", n) for n in range(50)]
        for n, e in enumerate(events):
            box.insert_one(db.cases, {"_id": f"c{n}"}, [e])
        box.flush(5)
        assert [p.id for p in published(bus)] == [e.id for e in events]
        assert db[PENDING].count_documents({}) == 0
        box.close()

    def test_the_dispatcher_deletes_published_intents_together_within_the_linger(self, db, bus):
        box = Outbox(db, "probe", TOPIC)
        box.attach(bus)
        deletes: list[int] = []
        forget = box.forget
        box.forget = lambda ids: (deletes.append(len(ids)), forget(ids))[1]  # type: ignore[method-assign]
        for n in range(5):
            box.insert_one(db.cases, {"_id": f"c{n}"}, [event(f"c{n}", n)])
            time.sleep(0.01)  # each write its own burst: published one by one
        eventually(lambda: db[PENDING].count_documents({}) == 0, timeout=5, what="the intents deleted")
        assert len(published(bus)) == 5
        assert sum(deletes) == 5 and len(deletes) < 5
        box.close()


class TestSweeper:
    def test_publishes_what_a_crashed_writer_left_after_the_grace(self, db, bus):
        clock = Clock()
        e = event("c1")
        inline(db, FailingPublisher()).insert_one(db.cases, {"_id": "c1"}, [e])  # "crashed" before publishing
        sweeper = OutboxSweeper(inline(db, bus), grace=timedelta(seconds=5), clock=clock)
        assert sweeper.run_once() == 0  # the writer may still be publishing it
        clock.now += timedelta(seconds=6)
        assert sweeper.run_once() == 1
        assert sweeper.run_once() == 0
        assert [p.id for p in published(bus)] == [e.id]
        assert sweeper.pending() == 0

    def test_an_intent_whose_write_never_happened_is_never_published_and_is_dropped_late(self, db, bus):
        clock = Clock()
        writer = inline(db, bus)
        e = event("ghost")
        writer._intend(db.cases, "ghost", [e])  # the writer died between the intent and its write
        sweeper = OutboxSweeper(
            writer, grace=timedelta(seconds=5), abandon_after=timedelta(minutes=10), clock=clock
        )
        clock.now += timedelta(minutes=1)
        assert sweeper.run_once() == 0
        assert sweeper.pending() == 1  # a very slow write could still land: keep watching
        clock.now += timedelta(minutes=10)
        assert sweeper.run_once() == 0
        assert sweeper.pending() == 0
        assert published(bus) == []

    def test_a_slow_write_that_lands_after_the_grace_is_still_published(self, db, bus):
        clock = Clock()
        writer = inline(db, FailingPublisher())
        e = event("slow")
        writer._intend(db.cases, "slow", [e])
        sweeper = OutboxSweeper(inline(db, bus), grace=timedelta(seconds=5), clock=clock)
        clock.now += timedelta(seconds=30)
        assert sweeper.run_once() == 0
        db.cases.insert_one(outbox.new_document({"_id": "slow"}, [e]))  # the write lands late
        assert sweeper.run_once() == 1
        assert [p.id for p in published(bus)] == [e.id]

    def test_one_intent_covers_a_write_and_goes_when_its_events_are_published(self, db, bus):
        """One intent document per write, however many events (each intent inserted and deleted
        is a store statement), listing the events in write order."""
        first, second = event("c1", 1), event("c1", 2)
        writer = inline(db, FailingPublisher())
        writer.insert_one(db.cases, {"_id": "c1"}, [first, second])
        [intent] = db[PENDING].find()
        assert intent["events"] == [first.id, second.id]
        clock = Clock()
        clock.now += timedelta(seconds=10)
        assert OutboxSweeper(inline(db, bus), clock=clock).run_once() == 2
        assert db[PENDING].count_documents({}) == 0
        inline(db, bus).insert_one(db.cases, {"_id": "c2"}, [event("c2", 3), event("c2", 4)])
        assert db[PENDING].count_documents({}) == 0, "the writer forgets the one intent it wrote"

    def test_a_write_retried_after_a_store_error_with_the_same_event_ids_goes_through(self, db, bus):
        """Events whose ids derive from their cause (scheduling's ``derived_id``) are the same on a
        retry: the first attempt's leftover intent must not make the retry look like a lost race."""
        derived = event("c1", 1)
        writer = inline(db, bus)
        failing = db.cases

        class StoreDown:
            name = failing.name

            def insert_one(self, doc):
                raise AutoReconnect("store unreachable")  # the write never landed

        with pytest.raises(AutoReconnect):
            writer.insert_one(StoreDown(), {"_id": "c1"}, [derived])
        assert db[PENDING].count_documents({}) == 1  # the first attempt's intent, unproven
        writer.insert_one(failing, {"_id": "c1"}, [derived])  # the consumer's retry
        assert db.cases.find_one({"_id": "c1"}) is not None
        writer.flush()
        assert [e.id for e in published(bus)] == [derived.id]

    def test_intents_from_before_one_intent_per_write_are_still_swept(self, db, bus):
        """A per-event intent (keyed by its event id, no ``events``) left by the former version."""
        e = event("old")
        db.cases.insert_one(outbox.new_document({"_id": "old"}, [e]))
        clock = Clock()
        db[PENDING].insert_one({"_id": e.id, "collection": "cases", "doc_id": "old", "at": clock(), "seq": 0})
        clock.now += timedelta(seconds=10)
        assert OutboxSweeper(inline(db, bus), clock=clock).run_once() == 1
        assert [p.id for p in published(bus)] == [e.id] and db[PENDING].count_documents({}) == 0

    def test_events_of_one_document_are_swept_in_write_order(self, db, bus):
        writer = inline(db, FailingPublisher())
        writer.insert_one(db.cases, {"_id": "c1"}, [event("c1", 1), event("c1", 2)])
        writer.update_one(db.cases, {"_id": "c1"}, {"$set": {"x": 1}}, [event("c1", 3)])
        clock = Clock()
        clock.now += timedelta(seconds=10)
        OutboxSweeper(inline(db, bus), clock=clock).run_once()
        assert [p.data["n"] for p in published(bus)] == [1, 2, 3]

    def test_a_crash_after_publishing_republishes_with_the_same_id(self, db, bus, monkeypatch):
        clock = Clock()
        e = event("c1")
        writer = inline(db, bus)

        def crash(*args, **kwargs):
            raise SystemExit("killed between publish and forgetting the intent")

        monkeypatch.setattr(writer, "forget", crash)
        with pytest.raises(SystemExit):
            writer.insert_one(db.cases, {"_id": "c1"}, [e])
        monkeypatch.undo()
        clock.now += timedelta(seconds=10)
        OutboxSweeper(inline(db, bus), clock=clock).run_once()
        assert [p.id for p in published(bus)] == [e.id, e.id]  # at-least-once; consumers dedupe


def test_the_running_sweeper_indexes_what_it_reads(db, bus):
    sweeper = OutboxSweeper(inline(db, bus))
    stop = threading.Event()
    thread = threading.Thread(target=sweeper.run, args=(stop, 0.01))
    thread.start()
    try:
        eventually(lambda: "pending_order" in db[PENDING].index_information(), timeout=5, what="the index")
    finally:
        stop.set()
        thread.join(5)
