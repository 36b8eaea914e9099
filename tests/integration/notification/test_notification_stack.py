"""The notification service on the real parts: FerretDB for its state, Kafka for its events.

Unique service name (so unique consumer group, output topic and dead-letter topic) and a
unique input topic per test, so runs never see each other's records.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from services.notification.bootstrap import build
from services.notification.channels.base import RecordingChannel
from services.notification.directory import MemoryContactDirectory
from services.notification.domain.intents import intents_for
from services.notification.reminders import run_due
from shared import kafka
from shared.events import Event, event_type, from_kafka, to_kafka
from shared.runtime import kafka_worker
from tests.support.processes import eventually
from tests.support.secrets_env import kafka_settings
from tests.unit.notification.conftest import CASE, FakeClock, booked, contacts, event

pytestmark = pytest.mark.integration


def fakes(clock=None) -> dict:
    return {
        "channels": {"email": RecordingChannel(), "sms": RecordingChannel(), "webhook": RecordingChannel()},
        "directory": MemoryContactDirectory({CASE: contacts()}),
        **({"clock": clock} if clock else {}),
    }


def test_state_machine_on_ferretdb(mongo_db):
    """Conditional claims, duplicate keys, date queries and update_many as FerretDB runs them."""
    clock = FakeClock(datetime(2025, 9, 1, 14, 0, tzinfo=UTC))  # quiet hours for the mother
    parts = fakes(clock)
    service = build(kafka_settings("notification"), db=mongo_db, **parts)
    handle = service.handlers["appointment.booked"]
    sender = handle.__self__.sender
    e = booked()
    handle(e)
    handle(e)  # redelivered
    sms = parts["channels"]["sms"]
    assert sms.sent == [] and mongo_db.deliveries.count_documents({}) == 4
    assert mongo_db.reminders.count_documents({"state": "scheduled"}) == 2
    clock.now = datetime(2025, 9, 2, 0, 0, tzinfo=UTC)
    run_due(mongo_db, clock, sender)
    run_due(mongo_db, clock, sender)
    assert len(sms.sent) == 1
    service.handlers["appointment.rescheduled"](
        booked("appointment.rescheduled", start="2025-09-12T01:00:00Z", previous_start="2025-09-10T01:00:00Z")
    )
    assert mongo_db.reminders.count_documents({"state": "withdrawn"}) == 2
    assert mongo_db.reminders.count_documents({"state": "scheduled"}) == 2
    clock.now = datetime(2025, 9, 9, 2, 0, tzinfo=UTC)
    assert run_due(mongo_db, clock, sender) >= 3  # the new 3-day reminder: 2 emails + 1 SMS
    assert mongo_db.deliveries.count_documents({"state": "sent", "template": "appointment_reminder"}) == 3
    stale = clock.now - timedelta(hours=1)
    mongo_db.deliveries.update_one({"state": "sent"}, {"$set": {"state": "sending", "lease_until": stale}})
    assert sender.log.release_stale(clock.now) == 1


def test_only_one_of_many_concurrent_attempts_sends(mongo_db):
    """FerretDB updates are read-modify-write: the unique claim insert, not the update, arbitrates."""
    clock = FakeClock(datetime(2025, 9, 1, 4, 0, tzinfo=UTC))
    parts = fakes(clock)
    service = build(kafka_settings("notification"), db=mongo_db, **parts)
    sender = service.handlers["referral.submitted"].__self__.sender
    ids = sender.plan(intents_for("referral.submitted", {"case_id": CASE})[0], "o", "c", "t")
    barrier = threading.Barrier(8)

    def race(key: str) -> None:
        barrier.wait()
        sender.attempt(key)

    for key in ids:
        threads = [threading.Thread(target=race, args=(key,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    channels = parts["channels"]
    assert len(channels["email"].sent) == 2 and len(channels["sms"].sent) == 1


def test_worker_consumes_from_kafka_and_publishes_notification_sent(kafka_bootstrap, mongo_db, unique):
    name, source_topic = f"notification-it-{unique}", f"waymark.it-scheduling-{unique}.events"
    settings = kafka_settings(name, kafka_bootstrap=kafka_bootstrap, relay_interval_s=0.05)
    parts = fakes(FakeClock(datetime(2025, 9, 1, 4, 0, tzinfo=UTC)))  # noon in Shanghai: nobody's quiet hours
    service = dataclasses.replace(build(settings, db=mongo_db, **parts), consumes=[source_topic])
    kafka.ensure_topics(kafka_bootstrap, [source_topic])
    worker = kafka_worker(service)
    worker.start()
    publisher = kafka.KafkaPublisher(kafka_bootstrap, f"it-{unique}")
    try:
        e = event("referral.submitted")
        publisher.send(source_topic, *to_kafka(e))
        publisher.send(source_topic, *to_kafka(e))  # a duplicate on the wire
        eventually(lambda: mongo_db.deliveries.count_documents({"state": "sent"}) == 3)
        out = kafka.KafkaSource(
            kafka_bootstrap, f"it-reader-{unique}", [service.topic], f"it-reader-{unique}"
        )
        seen: list[Event] = []
        deadline = time.monotonic() + 30
        while len(seen) < 3 and time.monotonic() < deadline:
            seen += [from_kafka(r.value, r.headers) for r in out.poll(0.5)]
        out.close()
        assert sorted(x.data["channel"] for x in seen) == ["email", "email", "sms"]
        assert {x.type for x in seen} == {event_type("notification.sent")}
        assert {x.correlation_id for x in seen} == {e.correlation_id}
        assert len(parts["channels"]["email"].sent) == 2  # the duplicate sent nothing
    finally:
        publisher.close()
        worker.stop()
