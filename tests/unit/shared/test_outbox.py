from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from shared import outbox
from shared.events import Event, event_type, from_kafka
from shared.memory_bus import MemoryBus
from shared.outbox import OutboxRelay
from tests.support.processes import eventually

TOPIC = "waymark.probe.events"


def event(subject: str, n: int = 0) -> Event:
    return Event(event_type("probe.pinged"), "/services/probe", subject, {"n": n})


def published(bus: MemoryBus) -> list[Event]:
    return [from_kafka(r.value, r.headers) for r in bus.records(TOPIC)]


class FailingPublisher(MemoryBus):
    def send_many(self, topic, records):
        raise ConnectionError("broker down")


class TestOutboxWrites:
    def test_insert_carries_the_events_in_the_same_document(self, db):
        e = event("c1")
        db.cases.insert_one(outbox.new_document({"_id": "c1", "status": "new"}, [e]))
        doc = db.cases.find_one({"_id": "c1"})
        assert doc["outbox"] == [e.to_dict()]
        assert doc["outbox_at"] is not None

    def test_update_appends_events_alongside_the_state_change(self, db):
        db.cases.insert_one(outbox.new_document({"_id": "c1", "status": "new"}, []))
        first, second = event("c1", 1), event("c1", 2)
        update = outbox.with_events({"$set": {"status": "triaged"}}, [first, second])
        db.cases.update_one({"_id": "c1"}, update)
        doc = db.cases.find_one({"_id": "c1"})
        assert doc["status"] == "triaged"
        assert [e["id"] for e in doc["outbox"]] == [first.id, second.id]


class TestRelay:
    def test_publishes_in_order_once_and_never_touches_the_aggregate(self, db, bus):
        events = [event("c1", n) for n in range(3)]
        db.cases.insert_one(outbox.new_document({"_id": "c1"}, events))
        before = db.cases.find_one({"_id": "c1"})
        relay = OutboxRelay("probe", [db.cases], bus, TOPIC)
        assert relay.run_once() == 3
        assert relay.run_once() == 0
        assert [p.id for p in published(bus)] == [e.id for e in events]
        assert all(r.key == b"c1" for r in bus.records(TOPIC))
        assert db.cases.find_one({"_id": "c1"}) == before
        assert relay.pending() == 0

    def test_later_events_on_the_same_document_follow(self, db, bus):
        db.cases.insert_one(outbox.new_document({"_id": "c1"}, [event("c1", 1)]))
        relay = OutboxRelay("probe", [db.cases], bus, TOPIC)
        relay.run_once()
        db.cases.update_one({"_id": "c1"}, outbox.with_events({}, [event("c1", 2)]))
        assert relay.pending() == 1
        relay.run_once()
        assert [p.data["n"] for p in published(bus)] == [1, 2]

    def test_events_stay_pending_while_the_broker_is_down(self, db, bus):
        db.cases.insert_one(outbox.new_document({"_id": "c1"}, [event("c1")]))
        with pytest.raises(ConnectionError):
            OutboxRelay("probe", [db.cases], FailingPublisher(), TOPIC).run_once()
        relay = OutboxRelay("probe", [db.cases], bus, TOPIC)
        assert relay.pending() == 1
        assert relay.run_once() == 1

    def test_a_crash_after_publishing_republishes_with_the_same_id(self, db, bus, monkeypatch):
        e = event("c1")
        db.cases.insert_one(outbox.new_document({"_id": "c1"}, [e]))
        relay = OutboxRelay("probe", [db.cases], bus, TOPIC)

        def crash(*args, **kwargs):
            raise SystemExit("killed between publish and record")

        monkeypatch.setattr(OutboxRelay, "_record", staticmethod(crash))
        with pytest.raises(SystemExit):
            relay.run_once()
        monkeypatch.undo()
        relay.run_once()
        assert [p.id for p in published(bus)] == [e.id, e.id]  # at-least-once; consumers dedupe

    def test_a_write_stamped_before_the_watermark_but_seen_late_is_still_published(self, db, bus):
        relay = OutboxRelay("probe", [db.cases], bus, TOPIC, margin=timedelta(seconds=10))
        db.cases.insert_one(outbox.new_document({"_id": "new"}, [event("new", 2)]))
        late = outbox.new_document({"_id": "late"}, [event("late", 1)])
        late["outbox_at"] -= timedelta(seconds=5)  # committed after a newer write was relayed
        relay.run_once()
        db.cases.insert_one(late)
        assert relay.run_once() == 1
        assert sorted(p.subject for p in published(bus)) == ["late", "new"]


def test_the_running_relay_indexes_what_it_reads(db, bus):
    relay = OutboxRelay("probe", [db.cases], bus, TOPIC)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop, 0.01))
    thread.start()
    try:
        eventually(lambda: "outbox_at" in db.cases.index_information(), timeout=5, what="the outbox_at index")
    finally:
        stop.set()
        thread.join(5)
