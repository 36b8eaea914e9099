"""Scheduling on the real parts: FerretDB for slots and the waitlist, Kafka for events in and out.

The races are the point: FerretDB 1.x's conditional ``update_one`` is not atomic, so
booking a slot, offering a family and moving an appointment are each decided by a
unique-key claim, and exactly one of many concurrent callers must win on the real store.
"""

from __future__ import annotations

import dataclasses
import time

import pytest

from services.scheduling import booking, calendar_ops, offers, responses
from services.scheduling.bootstrap import build
from services.scheduling.config import Config
from services.scheduling.context import Conflict
from services.scheduling.repository import iso as repo_iso
from services.scheduling.seed import seed_region
from shared import kafka
from shared.events import from_kafka, to_kafka
from shared.runtime import kafka_worker
from tests.support.concurrency import race
from tests.support.processes import eventually
from tests.support.secrets_env import kafka_settings
from tests.unit.scheduling.conftest import Clock, triaged

pytestmark = pytest.mark.integration
CONFIG = Config(offer_secret="integration-offer-secret")


def scheduling(db, **settings):
    service = build(
        kafka_settings("scheduling", **settings),
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
    wins = race(8, lambda n: booking.book(ctx, f"case-{n}", slot_id, by=f"scheduler-{n}"), Conflict)
    losses = 8 - len(wins)
    assert (len(wins), losses) == (1, 7)
    assert mongo_db.appointments.count_documents({"slot_id": slot_id}) == 1
    assert mongo_db.slots.find_one({"_id": slot_id})["appointment_id"] == wins[0]["_id"]


def waiting_family(service, db, case: str, slot_ids: list[str]) -> dict:
    """A waiting family (nothing offered on arrival) and then these slots opened for it."""
    db.slots.update_many({"state": "open"}, {"$set": {"state": "closed"}})
    service.handlers["assessment.triaged"](triaged(case, "P2"))
    entry = db.waitlist.find_one({"_id": case})
    assert entry["state"] == "waiting"
    db.slots.update_many({"_id": {"$in": slot_ids}}, {"$set": {"state": "open"}})
    return entry


@pytest.mark.parametrize("rounds", [5])
def test_concurrent_offers_to_one_family_on_the_real_store(mongo_db, rounds):
    """Eight offer makers, one waiting family, eight different slots: exactly one pending offer.

    Before the round claim (services/scheduling/rounds.py) this failed on FerretDB with up
    to 4 of 8 makers "winning" the conditional waiting → offered update.
    """
    service, ctx = scheduling(mongo_db)
    seed_region(mongo_db, ctx.clock, config=CONFIG)
    intake = [s["_id"] for s in mongo_db.slots.find({"kind": "intake"}).sort("start", -1).limit(8 * rounds)]
    for r in range(rounds):
        case, slot_ids = f"fam-{r}", intake[8 * r : 8 * r + 8]
        entry = waiting_family(service, mongo_db, case, slot_ids)
        slots = list(mongo_db.slots.find({"_id": {"$in": slot_ids}}))
        won = race(8, lambda k, e=entry, s=slots: offers.make_offer(ctx, e, s[k]), Conflict)
        assert len(won) == 1, f"round {r}: {len(won)} offers"
        assert mongo_db.offers.count_documents({"case_id": case, "state": "pending"}) == 1
        assert mongo_db.slots.count_documents({"_id": {"$in": slot_ids}, "state": "held"}) == 1
        assert mongo_db.claims.count_documents({"_id": {"$in": [f"slot:{s}" for s in slot_ids]}}) == 1
        assert mongo_db.waitlist.find_one({"_id": case})["offer_id"] == won[0]["_id"]


def test_concurrent_reschedules_of_one_appointment_on_the_real_store(mongo_db):
    """Eight schedulers move one appointment to eight slots: the moves form one chain, never a fork."""
    service, ctx = scheduling(mongo_db)
    seed_region(mongo_db, ctx.clock, config=CONFIG)
    slot_ids = [s["_id"] for s in mongo_db.slots.find({"kind": "intake"}).sort("start", -1).limit(9)]
    waiting_family(service, mongo_db, "fam", slot_ids)
    appt = booking.book(ctx, "fam", slot_ids[0], by="scheduler")
    won = race(8, lambda k: booking.reschedule(ctx, appt["_id"], slot_ids[k + 1]), Conflict)
    doc = mongo_db.appointments.find_one({"_id": appt["_id"]})
    events = [e["data"] for e in doc["outbox"] if e["type"].endswith("appointment.rescheduled.v1")]
    assert 1 <= len(won) == len(events) == doc["moves"]
    previous = [repo_iso(appt["start"])] + [e["start"] for e in events[:-1]]
    assert [e["previous_start"] for e in events] == previous
    assert [s["_id"] for s in mongo_db.slots.find({"_id": {"$in": slot_ids}, "state": "booked"})] == [
        doc["slot_id"]
    ]
    assert mongo_db.claims.count_documents({"_id": {"$in": [f"slot:{s}" for s in slot_ids]}}) == 1


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
    settings = kafka_settings(name, kafka_bootstrap=kafka_bootstrap, relay_interval_s=0.05)
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
