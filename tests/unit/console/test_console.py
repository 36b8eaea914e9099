"""The console reads real service endpoints (served here by werkzeug) and the in-process DLQ."""

from __future__ import annotations

import re
import threading

import mongomock
import pytest
from werkzeug.serving import make_server

from services.console.bootstrap import build
from shared import metrics
from shared.auth import StaffTokens
from shared.events import Event, event_type, to_kafka
from shared.http import create_app
from shared.memory_bus import MemoryBus
from shared.settings import Settings
from shared.staff.signin import StaffAuth
from tests.unit.shared.staff.conftest import CHEAP, PASSWORD


def operator(hospitals: tuple[str, ...] = ("*",), **issue) -> dict[str, str]:
    token = StaffTokens(Settings.staff_token_secret).issue("op-1", "operator", hospitals, **issue)
    return {"Authorization": f"Bearer {token}"}


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
    overview = console.test_client().get("/api/overview", headers=operator()).get_json()
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
    op = operator()
    [listed] = client.get("/api/dead-letters/assessment", headers=op).get_json()["dead_letters"]
    assert listed["event_id"] == event.id
    assert client.post("/api/dead-letters/assessment/replay", headers=op).get_json()["replayed"] == 1
    assert client.post("/api/dead-letters/assessment/replay", headers=op).get_json()["replayed"] == 0
    [replayed] = bus.records("waymark.referral.events")
    assert replayed.header("ce_id") == event.id
    assert replayed.header("dlq_topic") is None
    assert client.get("/api/dead-letters/nobody", headers=op).status_code == 404


def test_the_page_sends_strangers_to_sign_in_and_its_assets_are_served(probe_url):
    client = build(Settings(service="console"), urls={"referral": probe_url}).test_client()
    page = client.get("/")
    assert page.status_code == 303 and page.headers["Location"] == "/staff/sign-in?next=/"
    assert b"Waymark staff sign-in" in client.get("/staff/sign-in?next=/").data
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


ROUTES = [
    ("GET", "/api/overview"),
    ("GET", "/api/dead-letters/assessment"),
    ("POST", "/api/dead-letters/assessment/replay"),
    ("POST", "/api/staff-tokens/revocations"),
]


@pytest.fixture
def console(probe_url):
    bus = MemoryBus()
    auth_db = mongomock.MongoClient(tz_aware=True)["waymark_auth"]
    staff = StaffAuth(auth_db, passwords=CHEAP)
    staff.create_account("op", "operator", ["*"], password=PASSWORD)
    staff.create_account("sched", "scheduler", ["*"], password=PASSWORD)
    app = build(
        Settings(service="console"),
        urls={"assessment": probe_url},
        bus=bus,
        auth_db=auth_db,
        staff_auth=staff,
    )
    return app.test_client()


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_api_route_refuses_callers_without_an_operator_token(console, method, path):
    assert console.open(path, method=method).status_code == 401
    assert console.open(path, method=method, headers=operator(ttl_s=1, hospitals=("*",))).status_code != 401
    scheduler = StaffTokens(Settings.staff_token_secret).issue("s", "scheduler")
    assert (
        console.open(path, method=method, headers={"Authorization": f"Bearer {scheduler}"}).status_code == 403
    )
    assert console.open(path, method=method, headers=operator(("h1",))).status_code == 403


def test_a_foreign_origin_cannot_replay_even_with_a_token(console):
    foreign = {**operator(), "Origin": "https://evil.example"}
    assert console.post("/api/dead-letters/assessment/replay", headers=foreign).status_code == 403
    own = {**operator(), "Origin": "http://localhost"}
    assert console.post("/api/dead-letters/assessment/replay", headers=own).status_code == 200


def sign_in(console, username: str, headers: dict[str, str] | None = None):
    form = console.get("/staff/sign-in?next=/").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    data = {"csrf_token": csrf, "username": username, "password": PASSWORD, "next": "/"}
    return console.post("/staff/sign-in", data=data, headers=headers or {"Origin": "http://localhost"})


def test_an_operator_signs_in_with_an_account_and_the_session_drives_the_page(console):
    signed_in = sign_in(console, "op")
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/"
    cookie = next(c for c in signed_in.headers.getlist("Set-Cookie") if c.startswith("waymark_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    assert b"Sign out" in console.get("/").data
    assert console.get("/api/overview").status_code == 200  # the session authenticates reads
    csrf = console.get("/staff/session").get_json()["csrf_token"]
    same = {"Origin": "http://localhost"}
    # a change needs the session's CSRF token and the page's own Origin besides the cookie
    assert console.post("/api/dead-letters/assessment/replay", headers=same).status_code == 403
    cross = {"Origin": "https://evil.example", "X-CSRF-Token": csrf}
    assert console.post("/api/dead-letters/assessment/replay", headers=cross).status_code == 403
    ours = {**same, "X-CSRF-Token": csrf}
    assert console.post("/api/dead-letters/assessment/replay", headers=ours).status_code == 200
    assert console.post("/staff/sign-out", data={"csrf_token": csrf}, headers=same).status_code == 303
    assert console.get("/api/overview").status_code == 401


def test_a_sign_in_from_another_site_is_refused(console):
    response = sign_in(console, "op", {"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert not any(c.startswith("waymark_session=") for c in response.headers.getlist("Set-Cookie"))


def test_a_scheduler_account_gets_no_console(console):
    assert sign_in(console, "sched").status_code == 303
    page = console.get("/")
    assert page.status_code == 403 and b"for regional operators" in page.data
    assert console.get("/api/overview").status_code == 403


def test_a_revoked_token_is_refused_at_once_here(console):
    victim = operator()
    assert console.get("/api/overview", headers=victim).status_code == 200
    body = {"token": victim["Authorization"].removeprefix("Bearer ")}
    revoked = console.post("/api/staff-tokens/revocations", json=body, headers=operator())
    assert revoked.status_code == 201 and revoked.get_json()["token_id"]
    assert console.get("/api/overview", headers=victim).status_code == 401
