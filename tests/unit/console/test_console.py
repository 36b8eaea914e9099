"""The console reads real service endpoints (served here by werkzeug) and the in-process DLQ."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from services.console.bootstrap import build
from shared import metrics
from shared.events import Event, event_type, to_kafka
from shared.http import create_app
from shared.memory_bus import MemoryBus
from shared.settings import Settings


@pytest.fixture
def probe_url():
    app = create_app("referral", title="Referral", checks={"store": lambda: None})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_overview_reports_readiness_and_event_figures(probe_url):
    metrics.EVENTS_PUBLISHED.labels("referral", "referral.submitted").inc(3)
    console = build(Settings(service="console"), urls={"referral": probe_url, "gone": "http://127.0.0.1:9"})
    overview = console.test_client().get("/api/overview").get_json()
    by_name = {s["name"]: s for s in overview["services"]}
    assert by_name["referral"]["ready"] is True
    assert by_name["referral"]["checks"] == {"store": "ok"}
    assert by_name["referral"]["metrics"]["published"] >= 3
    assert by_name["gone"]["up"] is False


def test_dead_letters_are_listed_and_replayed_once(probe_url):
    bus = MemoryBus()
    event = Event(event_type("referral.submitted"), "/services/referral", "case-1", {"case_id": "case-1"})
    key, value, headers = to_kafka(event)
    bus.send("waymark.assessment.dlq", key, value, [*headers, ("dlq_topic", b"waymark.referral.events")])
    client = build(Settings(service="console"), urls={"assessment": probe_url}, bus=bus).test_client()
    [listed] = client.get("/api/dead-letters/assessment").get_json()["dead_letters"]
    assert listed["event_id"] == event.id
    assert client.post("/api/dead-letters/assessment/replay").get_json()["replayed"] == 1
    assert client.post("/api/dead-letters/assessment/replay").get_json()["replayed"] == 0
    [replayed] = bus.records("waymark.referral.events")
    assert replayed.header("ce_id") == event.id
    assert replayed.header("dlq_topic") is None
    assert client.get("/api/dead-letters/nobody").status_code == 404


def test_the_page_and_its_assets_are_served(probe_url):
    client = build(Settings(service="console"), urls={"referral": probe_url}).test_client()
    assert b"operator console" in client.get("/").data
    assert client.get("/assets/console.js").status_code == 200


def test_on_call_gaps_and_unowned_escalations_are_warnings():
    from services.console.sources import warnings

    services = [
        {"name": "assessment", "metrics": {"oncall_gaps": 1.0, "unowned_tasks": 2.0}},
        {"name": "scheduling", "metrics": {}},
    ]
    found = warnings(services)
    assert len(found) == 2
    assert "1 hospital(s) hold cases but have no on-call clinician" in found[0]
    assert "2 escalation task(s) have no owner" in found[1]
    assert warnings([{"name": "assessment", "metrics": {"oncall_gaps": 0.0}}]) == []
