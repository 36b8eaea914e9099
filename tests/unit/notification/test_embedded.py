"""The service inside the embedded platform: in-process bus, worker threads, background scheduler."""

from __future__ import annotations

import time

from services.platform import start_embedded
from shared.events import Event, event_type, from_kafka, to_kafka
from shared.settings import Settings


def test_event_on_the_bus_becomes_a_message_and_a_notification_sent_event():
    settings = Settings(
        service="notification",
        mongo_db=f"notification_embedded_{time.time_ns()}",
        relay_interval_s=0.01,
        extra={"NOTIFICATION_REFERRAL_URL": "http://127.0.0.1:9", "NOTIFICATION_HTTP_TIMEOUT_S": "0.5"},
    )
    platform = start_embedded(["notification"], settings_for=lambda name: settings, serve_http=False)
    try:
        submitted = Event(
            event_type("referral.submitted"), "/services/referral", "case-e1", {"case_id": "case-e1"}
        )
        platform.bus.send("waymark.referral.events", *to_kafka(submitted))
        deadline = time.monotonic() + 10
        sent: list[Event] = []
        while time.monotonic() < deadline and len(sent) < 2:
            records = platform.bus.records("waymark.notification.events")
            sent = [from_kafka(r.value, r.headers) for r in records]
            time.sleep(0.02)
        assert sorted(e.data["channel"] for e in sent) == ["email", "sms"]  # the demo guardian
        assert {e.correlation_id for e in sent} == {submitted.correlation_id}
    finally:
        platform.stop()
