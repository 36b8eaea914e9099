"""No event is lost while writers append and the sweeper works at the same time (FerretDB updates are not atomic)."""

from __future__ import annotations

import threading
from datetime import timedelta

from shared.events import Event, event_type, from_kafka
from shared.memory_bus import MemoryBus
from shared.outbox import Outbox, OutboxSweeper

WRITES = 300


class DeadBroker(MemoryBus):
    def send_many(self, topic, records):
        raise ConnectionError("broker down")


def write_and_sweep(mongo_db, writer_bus: MemoryBus, sweeper_bus: MemoryBus) -> list[str]:
    """A writer appends WRITES events to one document while a zero-grace sweeper runs; the ids written."""
    writer = Outbox(mongo_db, "probe", "t", inline=True)
    writer.attach(writer_bus)
    writer.insert_one(mongo_db.cases, {"_id": "c1", "n": 0}, [])
    swept = Outbox(mongo_db, "probe", "t", inline=True)
    swept.attach(sweeper_bus)
    sweeper = OutboxSweeper(swept, grace=timedelta(0))
    written: list[str] = []
    done = threading.Event()

    def write() -> None:
        for n in range(WRITES):
            e = Event(event_type("probe.pinged"), "/services/probe", "c1", {"n": n})
            writer.update_one(mongo_db.cases, {"_id": "c1"}, {"$set": {"n": n}}, [e])
            written.append(e.id)
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    while not done.is_set():
        sweeper.run_once()
    thread.join()
    while sweeper.run_once():
        pass
    assert sweeper.pending() == 0
    return written


def ids(bus: MemoryBus) -> list[str]:
    return [from_kafka(r.value, r.headers).id for r in bus.records("t")]


def test_a_writer_whose_broker_is_down_loses_nothing_to_the_sweeper(mongo_db):
    sweeper_bus = MemoryBus()
    written = write_and_sweep(mongo_db, DeadBroker(), sweeper_bus)
    assert len(written) == WRITES
    assert ids(sweeper_bus) == written  # all of them, once each, in write order


def test_writer_and_sweeper_racing_publish_everything_at_least_once_in_order(mongo_db):
    bus = MemoryBus()
    written = write_and_sweep(mongo_db, bus, bus)
    first_seen = list(dict.fromkeys(ids(bus)))
    assert first_seen == written
