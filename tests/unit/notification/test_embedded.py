"""The service inside the embedded platform: in-process bus, worker threads, contacts from referral over HTTP."""

from __future__ import annotations

import socket
import time

from services.platform import start_embedded
from services.referral.keys import create_school_key
from shared.events import Event, from_kafka
from shared.settings import Settings
from tests.unit.referral.conftest import referral


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_referral_becomes_guardian_messages_and_notification_sent_events():
    ports = {name: free_port() for name in ("referral", "notification", "console")}
    run = time.time_ns()

    def settings_for(name: str) -> Settings:
        extra = {"REFERRAL_RATE_LIMIT_PER_MINUTE": "1000"} if name == "referral" else {}
        if name == "notification":
            extra = {"NOTIFICATION_REFERRAL_URL": f"http://127.0.0.1:{ports['referral']}"}
        return Settings(
            service=name,
            port=ports[name],
            mongo_db=f"{name}_embedded_{run}",
            relay_interval_s=0.01,
            extra=extra,
        )

    platform = start_embedded(["referral", "notification"], settings_for=settings_for)
    try:
        referral_service = platform.services["referral"]
        key = create_school_key(referral_service.db, "school-e", "Embedded School").key
        client = referral_service.app.test_client()
        body = referral()
        body["guardians"][0]["consent"]["scope"] = ["referral", "contact_by_email", "contact_by_sms"]
        answer = client.post("/v1/referrals", json=body, headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 201, answer.json
        deadline = time.monotonic() + 10
        sent: list[Event] = []
        while time.monotonic() < deadline and len(sent) < 2:
            records = platform.bus.records("waymark.notification.events")
            sent = [from_kafka(r.value, r.headers) for r in records]
            time.sleep(0.02)
        # The referral's own guardian, fetched from the referral service at send time, on both channels.
        assert sorted(e.data["channel"] for e in sent) == ["email", "sms"]
        first = platform.bus.records("waymark.referral.events")[0]
        submitted = from_kafka(first.value, first.headers)
        assert {e.correlation_id for e in sent} == {submitted.correlation_id}
    finally:
        platform.stop()
