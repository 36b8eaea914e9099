from __future__ import annotations

import pytest

from shared import outbox
from shared.events import Event, event_type, from_kafka
from shared.memory_bus import MemoryBus
from shared.outbox import OutboxRelay

TOPIC = "waymark.probe.events"


def event(subject: str, n: int = 0) -> Event:
    return Event(event_type("probe.pinged"), "/services/probe", subject, {"n": n})


class FailingPublisher(MemoryBus):
    def send_many(self, topic, records):
        raise ConnectionError("broker down")


class TestOutboxWrites:
    def test_insert_carries_the_events_in_the_same_document(self, db):
        e = event("c1")
        db.cases.insert_one(outbox.new_document({"_id": "c1", "status": "new"}, [e]))
        assert db.cases.find_one({"_id": "c1"})["outbox"] == [e.to_dict()]

    def test_update_pushes_events_alongside_the_state_change(self, db):
        db.cases.insert_one({"_id": "c1", "status": "new", "outbox": []})
        first, second = event("c1", 1), event("c1", 2)
        update = outbox.with_events({"$set": {"status": "triaged"}}, [first, second])
        db.cases.update_one({"_id": "c1"}, update)
        doc = db.cases.find_one({"_id": "c1"})
        assert doc["status"] == "triaged"
        assert [e["id"] for e in doc["outbox"]] == [first.id, second.id]


class TestRelay:
    def test_publishes_in_order_then_clears_the_outbox(self, db, bus):
        events = [event("c1", n) for n in range(3)]
        db.cases.insert_one(outbox.new_document({"_id": "c1"}, events))
        relay = OutboxRelay("probe", [db.cases], bus, TOPIC)
        assert relay.run_once() == 3
        published = [from_kafka(r.value, r.headers) for r in bus.records(TOPIC)]
        assert [p.id for p in published] == [e.id for e in events]
        assert all(r.key == b"c1" for r in bus.records(TOPIC))
        assert db.cases.find_one({"_id": "c1"})["outbox"] == []
        assert relay.pending() == 0

    def test_events_stay_pending_while_the_broker_is_down(self, db):
        db.cases.insert_one(outbox.new_document({"_id": "c1"}, [event("c1")]))
        relay = OutboxRelay("probe", [db.cases], FailingPublisher(), TOPIC)
        with pytest.raises(ConnectionError):
            relay.run_once()
        assert relay.pending() == 1

    def test_a_crash_after_publishing_republishes_with_the_same_id(self, db, bus, monkeypatch):
        e = event("c1")
        db.cases.insert_one(outbox.new_document({"_id": "c1"}, [e]))
        relay = OutboxRelay("probe", [db.cases], bus, TOPIC)
        original = db.cases.update_one

        def crash(*args, **kwargs):
            raise SystemExit("killed between publish and clear")

        monkeypatch.setattr(type(db.cases), "update_one", crash)
        with pytest.raises(SystemExit):
            relay.run_once()
        monkeypatch.setattr(type(db.cases), "update_one", original.__func__)
        relay.run_once()
        ids = [from_kafka(r.value, r.headers).id for r in bus.records(TOPIC)]
        assert ids == [e.id, e.id]  # at-least-once; consumers dedupe on the id

    def test_events_added_while_publishing_are_not_lost(self, db, bus):
        db.cases.insert_one(outbox.new_document({"_id": "c1"}, [event("c1", 1)]))
        relay = OutboxRelay("probe", [db.cases], bus, TOPIC)

        class Interleaving(MemoryBus):
            def send_many(self, topic, records):
                bus.send_many(topic, records)
                db.cases.update_one({"_id": "c1"}, outbox.with_events({}, [event("c1", 2)]))

        OutboxRelay("probe", [db.cases], Interleaving(), TOPIC).run_once()
        assert relay.pending() == 1
        relay.run_once()
        assert [from_kafka(r.value, r.headers).data["n"] for r in bus.records(TOPIC)] == [1, 2]
