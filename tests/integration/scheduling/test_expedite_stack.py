"""HZ-09 on the real parts: an escalated, booked family's earlier slot, decided on FerretDB, fed by Kafka.

FerretDB 1.x's conditional updates can have several winners, so the tests race the
handler: eight workers handling one escalation (a redelivery to a second worker), and
eight different escalations of one family, must leave exactly one expedite offer.
"""

from __future__ import annotations

import dataclasses

import pytest

from services.scheduling import booking, expedite, offers, responses
from services.scheduling.bootstrap import build
from services.scheduling.repository import aware
from services.scheduling.seed import seed_region
from shared import kafka
from shared.events import Event, event_type, to_kafka
from shared.runtime import kafka_worker
from tests.integration.scheduling.test_scheduling_stack import CONFIG, scheduling
from tests.support.concurrency import race
from tests.support.processes import eventually
from tests.support.secrets_env import kafka_settings
from tests.unit.scheduling.conftest import Clock, triaged

pytestmark = pytest.mark.integration


def escalated(case_id: str, deadline: str = "2025-03-05T04:00:00Z") -> Event:
    data = {
        "case_id": case_id,
        "reasons": ["instrument:phq_a_item9"],
        "contact_deadline": deadline,
        "contact_within_hours": 24,
        "hospitals": [],
    }
    return Event(event_type("assessment.escalated"), "/services/assessment", case_id, data)


def booked_late(service, ctx, db, case_id: str) -> dict:
    """A P3 family booked by a scheduler on the latest intake slot it may take."""
    service.handlers["assessment.triaged"](triaged(case_id, "P3"))
    eligible = db.waitlist.find_one({"_id": case_id})["eligible_hospitals"]
    late = db.slots.find_one(
        {"state": "open", "kind": "intake", "hospital_id": {"$in": eligible}}, sort=[("start", -1)]
    )
    return booking.book(ctx, case_id, late["_id"], by="scheduler")


def expedite_offers(db, case_id: str) -> list[dict]:
    return list(db.offers.find({"case_id": case_id, "made_by": "expedite"}))


def test_one_escalation_handled_by_eight_workers_makes_one_offer(mongo_db):
    service, ctx = scheduling(mongo_db)
    seed_region(mongo_db, ctx.clock, config=CONFIG)
    appt = booked_late(service, ctx, mongo_db, "fam")
    event = escalated("fam")
    race(8, lambda k: expedite.on_escalated(ctx, event), Exception)
    [offer] = expedite_offers(mongo_db, "fam")
    assert offer["state"] == "pending" and offer["reschedules"] == appt["_id"]
    assert aware(offer["start"]) < aware(appt["start"])
    assert aware(offer["start"]) >= offers.earliest_start(ctx, True)
    assert mongo_db.slots.count_documents({"case_id": "fam", "state": "held"}) == 1
    # the earliest open intake slot the family may take, region-wide
    eligible = mongo_db.waitlist.find_one({"_id": "fam"})["eligible_hospitals"]
    opens = mongo_db.slots.find(
        {"state": "open", "kind": "intake", "hospital_id": {"$in": eligible}, "clinic_type": "school_refusal"}
    )
    earlier = [
        s for s in opens if offers.earliest_start(ctx, True) <= aware(s["start"]) < aware(offer["start"])
    ]
    assert [s for s in earlier if s["day"] < offer["start"].isoformat()[:10]] == []


def test_eight_escalations_of_one_family_at_once_leave_one_open_offer(mongo_db):
    service, ctx = scheduling(mongo_db)
    seed_region(mongo_db, ctx.clock, config=CONFIG)
    booked_late(service, ctx, mongo_db, "fam")
    events = [escalated("fam") for _ in range(8)]
    paged = expedite.EXPEDITES.labels("no_slot")._value.get()
    race(8, lambda k: expedite.on_escalated(ctx, events[k]), Exception)
    assert expedite.EXPEDITES.labels("no_slot")._value.get() == paged  # the losers are no false page
    assert mongo_db.offers.count_documents({"case_id": "fam", "state": "pending"}) == 1
    assert mongo_db.slots.count_documents({"case_id": "fam", "state": "held"}) == 1


def test_accept_moves_the_booking_on_the_real_store(mongo_db):
    service, ctx = scheduling(mongo_db)
    seed_region(mongo_db, ctx.clock, config=CONFIG)
    appt = booked_late(service, ctx, mongo_db, "fam")
    expedite.on_escalated(ctx, escalated("fam"))
    [offer] = expedite_offers(mongo_db, "fam")
    moved = responses.accept(ctx, offers.token_for(ctx, offer["_id"]))
    assert moved["_id"] == appt["_id"] and moved["slot_id"] == offer["slot_id"]
    assert mongo_db.appointments.count_documents({"case_id": "fam", "state": "booked"}) == 1
    assert mongo_db.slots.find_one({"_id": offer["slot_id"]})["appointment_id"] == appt["_id"]
    assert mongo_db.slots.find_one({"_id": appt["slot_id"]})["state"] in ("open", "held")  # next family


def test_escalation_through_kafka_offers_the_earlier_slot_once(kafka_bootstrap, mongo_db, unique):
    name, source_topic = f"scheduling-it-{unique}", f"waymark.it-assessment-{unique}.events"
    settings = kafka_settings(name, kafka_bootstrap=kafka_bootstrap, relay_interval_s=0.05)
    service = build(settings, db=mongo_db, clock=Clock(), config=CONFIG, run_duties=False)
    ctx = service.app.extensions["scheduling"]
    service = dataclasses.replace(service, consumes=[source_topic])
    seed_region(mongo_db, ctx.clock, config=CONFIG)
    appt = booked_late(service, ctx, mongo_db, "case-x")
    kafka.ensure_topics(kafka_bootstrap, [source_topic])
    worker = kafka_worker(service)
    worker.start()
    publisher = kafka.KafkaPublisher(kafka_bootstrap, f"it-{unique}")
    try:
        event = escalated("case-x")
        publisher.send(source_topic, *to_kafka(event))
        publisher.send(source_topic, *to_kafka(event))  # a duplicate on the wire
        eventually(lambda: len(expedite_offers(mongo_db, "case-x")) == 1)
        eventually(lambda: (mongo_db.waitlist.find_one({"_id": "case-x"}) or {}).get("expedite"))
        assert len(expedite_offers(mongo_db, "case-x")) == 1
        assert mongo_db.appointments.find_one({"_id": appt["_id"]})["slot_id"] == appt["slot_id"]
    finally:
        publisher.close()
        worker.stop()
