"""The relay must not lose events that writers append while it works (FerretDB updates are not atomic)."""

from __future__ import annotations

import threading

from shared import outbox
from shared.events import Event, event_type, from_kafka
from shared.memory_bus import MemoryBus
from shared.outbox import OutboxRelay

WRITES = 300


def test_no_event_is_lost_while_a_writer_appends_during_relaying(mongo_db):
    bus = MemoryBus()
    mongo_db.cases.insert_one(outbox.new_document({"_id": "c1", "n": 0}, []))
    relay = OutboxRelay("probe", [mongo_db.cases], bus, "t")
    written: list[str] = []
    done = threading.Event()

    def writer() -> None:
        for n in range(WRITES):
            e = Event(event_type("probe.pinged"), "/services/probe", "c1", {"n": n})
            mongo_db.cases.update_one({"_id": "c1"}, outbox.with_events({"$set": {"n": n}}, [e]))
            written.append(e.id)
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    while not done.is_set():
        relay.run_once()
    thread.join()
    relay.run_once()
    relayed = [from_kafka(r.value, r.headers).id for r in bus.records("t")]
    assert len(written) == WRITES
    assert relayed == written  # all of them, once each, in write order
