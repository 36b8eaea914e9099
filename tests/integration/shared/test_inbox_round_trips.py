"""The consumer's inbox costs two inserts per polled batch on the real store, whatever the batch size."""

from __future__ import annotations

import pytest
from pymongo import MongoClient

from shared.consumer import ConsumerLoop, Subscription
from shared.events import Event, event_type, to_kafka
from shared.inbox import Inbox
from shared.memory_bus import MemoryBus
from shared.settings import ConsumerPolicy
from tests.conftest import MONGO_URI
from tests.support.commands import Commands

pytestmark = pytest.mark.integration
TOPIC = "waymark.probe.events"


def test_a_batch_of_fifty_costs_two_inserts_and_a_redelivered_batch_is_skipped(mongo_db):
    commands = Commands()
    client: MongoClient = MongoClient(MONGO_URI, event_listeners=[commands])
    db = client[mongo_db.name]
    handled: list[str] = []
    bus = MemoryBus()
    subscription = Subscription("probe", (TOPIC,), {"probe.pinged": lambda e: handled.append(e.id)}, "dlq")
    loop = ConsumerLoop("probe", subscription, bus.source("probe", [TOPIC]), bus, Inbox(db), ConsumerPolicy())
    events = [Event(event_type("probe.pinged"), "/services/probe", f"c{n}", {"n": n}) for n in range(50)]
    for e in events:
        bus.send(TOPIC, *to_kafka(e))
    records = bus.records(TOPIC)
    try:
        assert len(loop.process_batch(records)) == 50
        assert commands.sent == ["insert processed_events", "insert processed_batches"]
        assert handled == [e.id for e in events]

        commands.clear()
        assert len(loop.process_batch(records)) == 50  # the whole batch redelivered
        assert len(handled) == 50  # nothing handled twice
        assert commands.sent[0] == "insert processed_events"
        # only redeliveries are looked up, by _id
        assert all(c.startswith("find ") for c in commands.sent[1:])
    finally:
        client.close()
