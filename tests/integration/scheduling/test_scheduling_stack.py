"""Scheduling on the real parts: FerretDB for slots and the waitlist, Kafka for events in and out.

The booking race is the point: the conditional ``update_one`` on the slot must let
exactly one of many concurrent schedulers win on the real store, as on mongomock.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from services.scheduling import booking, calendar_ops, offers, responses
from services.scheduling.bootstrap import build
from services.scheduling.config import Config
from services.scheduling.context import Conflict
from services.scheduling.seed import seed_region
from shared import kafka
from shared.events import from_kafka, to_kafka
from shared.runtime import kafka_worker
from shared.settings import Settings
from tests.support.processes import eventually
from tests.unit.scheduling.conftest import Clock, triaged

pytestmark = pytest.mark.integration
CONFIG = Config(offer_secret="integration-offer-secret")


def scheduling(db, **settings):
    service = build(
        Settings(service="scheduling", mode="kafka", **settings),
        db=db,
        clock=Clock(),
        config=CONFIG,
        run_duties=False,
    )
    return service, service.app.extensions["scheduling"]


def test_concurrent_booking_on_the_real_store(mongo_db):
    """Eight schedulers, one slot, released together: exactly one appointment."""
    _service, ctx = scheduling(mongo_db)
    seed_region(mongo_db, ctx.clock, config=CONFIG)
    assert calendar_ops.materialise(ctx) == 0  # idempotent on the real unique index
    slot_id = mongo_db.slots.find_one({"state": "open", "kind": "follow_up"}, sort=[("start", 1)])["_id"]
    barrier = threading.Barrier(8)
    wins, losses = [], []

    def attempt(n: int) -> None:
        barrier.wait()
        try:
            wins.append(booking.book(ctx, f"case-{n}", slot_id, by=f"scheduler-{n}"))
        except Conflict:
            losses.append(n)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(wins), len(losses)) == (1, 7)
    assert mongo_db.appointments.count_documents({"slot_id": slot_id}) == 1
    assert mongo_db.slots.find_one({"_id": slot_id})["appointment_id"] == wins[0]["_id"]


def test_waitlist_offer_and_accept_on_the_real_store(mongo_db):
    """The queries FerretDB must run: $nin, $or, compound sorts, $addToSet, the token index."""
    service, ctx = scheduling(mongo_db)
    seed_region(mongo_db, ctx.clock, config=CONFIG)
    for n in range(3):
        service.handlers["assessment.triaged"](triaged(f"c{n}", "P2", referred_on=f"2025-02-0{n + 1}"))
    service.handlers["assessment.triaged"](triaged("c0", "P2", referred_on="2025-02-01"))  # redelivery
    offer = mongo_db.offers.find_one({"case_id": "c0", "state": "pending"})
    responses.decline(ctx, offers.token_for(ctx, offer["_id"]))
    again = mongo_db.offers.find_one({"case_id": "c0", "state": "pending"})
    assert again["slot_id"] != offer["slot_id"]
    appointment = responses.accept(ctx, offers.token_for(ctx, again["_id"]))
    assert mongo_db.waitlist.find_one({"_id": "c0"})["state"] == "booked"
    assert mongo_db.slots.find_one({"_id": again["slot_id"]})["appointment_id"] == appointment["_id"]
    client = service.app.test_client()
    assert client.get("/readyz").status_code in (200, 503)


def test_triage_in_offer_out_through_kafka(kafka_bootstrap, mongo_db, unique):
    name, source_topic = f"scheduling-it-{unique}", f"waymark.it-assessment-{unique}.events"
    settings = Settings(service=name, mode="kafka", kafka_bootstrap=kafka_bootstrap, relay_interval_s=0.05)
    service = build(settings, db=mongo_db, clock=Clock(), config=CONFIG, run_duties=False)
    service = dataclasses.replace(service, consumes=[source_topic])
    seed_region(mongo_db, service.app.extensions["scheduling"].clock, config=CONFIG)
    kafka.ensure_topics(kafka_bootstrap, [source_topic])
    worker = kafka_worker(service)
    worker.start()
    publisher = kafka.KafkaPublisher(kafka_bootstrap, f"it-{unique}")
    try:
        event = triaged("case-k", "P1")
        publisher.send(source_topic, *to_kafka(event))
        publisher.send(source_topic, *to_kafka(event))  # a duplicate on the wire
        eventually(lambda: (mongo_db.waitlist.find_one({"_id": "case-k"}) or {}).get("state") == "offered")
        out = kafka.KafkaSource(
            kafka_bootstrap, f"it-reader-{unique}", [service.topic], f"it-reader-{unique}"
        )
        seen = []
        deadline = time.monotonic() + 30
        while len(seen) < 2 and time.monotonic() < deadline:
            seen += [from_kafka(r.value, r.headers) for r in out.poll(0.5)]
        out.close()
        assert sorted(e.name for e in seen) == ["waitlist.entry_added", "waitlist.offer_made"]
        assert {e.subject for e in seen} == {"case-k"}
    finally:
        publisher.close()
        worker.stop()
