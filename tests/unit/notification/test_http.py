"""Webhooks, the contact directory and offer links against real HTTP servers on ephemeral loopback ports."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import pytest

from services.notification.bootstrap import build
from services.notification.channels.base import DeliveryError, OutboundMessage, RecordingChannel
from services.notification.channels.webhook import SIGNATURE_HEADER, WebhookChannel, sign, verify
from services.notification.directory import DirectoryUnavailable, HttpContactDirectory
from services.notification.offer_links import HttpOfferLinks, OfferLinksUnavailable
from services.notification.reminders import run_due
from shared.auth import StaffTokens

from .conftest import SECRET, MemoryContactDirectory, contacts, event, offer_made, settings

Responder = Callable[[BaseHTTPRequestHandler, bytes], tuple[int, bytes]]


class Server:
    """A loopback HTTP server that records requests and answers with ``responder``."""

    def __init__(self, responder: Responder) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append((self.path, dict(self.headers), body))
                status, answer = responder(self, body)
                self.send_response(status)
                for name, value in getattr(self, "extra_headers", {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = _serve

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers: list[Server] = []

    def start(responder: Responder) -> Server:
        servers.append(Server(responder))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_school_receives_a_signed_webhook_and_verifies_the_hmac(serve, harness, clock):
    answers = iter([500, 200])
    school = serve(lambda handler, body: (next(answers), b"ok"))
    directory = MemoryContactDirectory({"case-1": contacts(webhook_url=f"{school.url}/hooks/waymark")})
    service = build(
        settings(), db=harness.db, clock=clock, directory=directory,
        channels={"email": RecordingChannel(), "sms": RecordingChannel(), "webhook": WebhookChannel(timeout_s=5, allow_loopback=True)},
    )  # fmt: skip
    service.handlers["appointment.booked"](
        event(
            "appointment.booked", appointment_id="appt-1", hospital_id="hosp-a", start="2025-09-10T01:00:00Z"
        )
    )
    doc = harness.db.deliveries.find_one({"channel": "webhook"})
    assert doc["state"] == "retrying" and doc["last_error"] == "http 500"
    clock.advance(minutes=5)
    run_due(harness.db, clock, service.handlers["appointment.booked"].__self__.sender)
    assert harness.db.deliveries.find_one({"channel": "webhook"})["state"] == "sent"

    assert len(school.requests) == 2
    path, headers, body = school.requests[-1]
    assert path == "/hooks/waymark"
    assert verify(SECRET, headers[SIGNATURE_HEADER], body, now=time.time())
    assert not verify("wrong-secret", headers[SIGNATURE_HEADER], body, now=time.time())
    assert not verify(SECRET, headers[SIGNATURE_HEADER], body + b" ", now=time.time())
    payload = json.loads(body)
    assert payload["status"] == "appointment_booked" and payload["start"] == "2025-09-10T01:00:00Z"
    assert headers["X-Waymark-Delivery"] == payload["id"] == doc["_id"]
    assert school.requests[0][2] == body  # a retry sends the same body (receivers dedupe on the id)


def test_signature_format_and_replay_window():
    header = sign("s3cret", 1_700_000_000, b'{"a":1}')
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify("s3cret", header, b'{"a":1}', now=1_700_000_100)
    assert not verify("s3cret", header, b'{"a":1}', now=1_700_001_000)


def test_client_errors_are_permanent_server_errors_are_not(serve):
    gone = serve(lambda handler, body: (410, b""))
    busy = serve(lambda handler, body: (429, b""))
    channel = WebhookChannel(timeout_s=5, allow_loopback=True)
    with pytest.raises(DeliveryError) as failure:
        channel.send(OutboundMessage("d", "webhook", gone.url, "{}", secret="x"))
    assert failure.value.permanent
    with pytest.raises(DeliveryError) as failure:
        channel.send(OutboundMessage("d", "webhook", busy.url, "{}", secret="x"))
    assert not failure.value.permanent


def test_delivery_refuses_loopback_without_the_explicit_flag(serve):
    """Issue 11 item 6: a URL that reaches this machine is never delivered to (permanent, nothing sent)."""
    school = serve(lambda handler, body: (200, b"ok"))
    for url in (school.url, school.url.replace("127.0.0.1", "localhost"), "http://[::1]:9/h"):
        with pytest.raises(DeliveryError, match="not allowed") as failure:
            WebhookChannel(timeout_s=5).send(OutboundMessage("d", "webhook", url, "{}", secret="x"))
        assert failure.value.permanent
    assert school.requests == []


@pytest.mark.parametrize(
    "address", ["169.254.169.254", "10.0.0.8", "192.168.0.2", "172.20.1.1", "fd12::1", "0.0.0.0"]
)
def test_delivery_checks_every_resolved_address(address):
    """A public-looking name that resolves (now) to an internal address is refused after resolution."""
    resolver = lambda host, port: ["93.184.216.34", address]  # noqa: E731 - one public, one internal
    channel = WebhookChannel(timeout_s=1, resolver=resolver)
    with pytest.raises(DeliveryError, match="not allowed") as failure:
        channel.send(OutboundMessage("d", "webhook", "https://hooks.school.example/h", "{}", secret="x"))
    assert failure.value.permanent


def test_delivery_connects_to_the_checked_address_not_a_second_lookup(serve):
    """The name is resolved once; the request goes to that address with the URL's Host header."""
    school = serve(lambda handler, body: (200, b"ok"))
    port = school.httpd.server_address[1]
    lookups: list[str] = []

    def resolver(host: str, _port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    channel = WebhookChannel(timeout_s=5, allow_loopback=True, resolver=resolver)
    assert channel.send(
        OutboundMessage("d", "webhook", f"http://hooks.school.example:{port}/h", "{}", secret="x")
    )
    assert lookups == ["hooks.school.example"]
    assert school.requests[0][1]["Host"] == f"hooks.school.example:{port}"


def test_delivery_does_not_follow_redirects(serve):
    inside = serve(lambda handler, body: (200, b"secret metadata"))

    def redirect(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, bytes]:
        handler.extra_headers = {"Location": f"{inside.url}/latest/meta-data/"}
        return 307, b""

    school_redirects = serve(redirect).url
    channel = WebhookChannel(timeout_s=5, allow_loopback=True)
    with pytest.raises(DeliveryError, match="redirect") as failure:
        channel.send(OutboundMessage("d", "webhook", school_redirects, "{}", secret="x"))
    assert failure.value.permanent and inside.requests == []


def test_contact_directory_calls_referral_with_a_service_token(serve):
    tokens = StaffTokens("a-long-enough-test-secret")
    answer = {
        "case_id": "case-1",
        "guardians": [{"relationship": "mother", "email": "m@example.com", "phone": "+86138", "language": "zh-CN",
                       "consent": {"email": True, "sms": False},
                       "quiet_hours": {"start": "21:00", "end": "08:00", "tz": "Asia/Shanghai"}}],
        "school": {"school_id": "s-1", "webhook_url": None, "webhook_secret": None},
    }  # fmt: skip

    def referral(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, bytes]:
        principal = tokens.verify(handler.headers["Authorization"].removeprefix("Bearer "))
        if principal is None or principal.role != "service":
            return 401, b"{}"
        return (200, json.dumps(answer).encode()) if "case-1" in handler.path else (404, b"{}")

    server = serve(referral)
    directory = HttpContactDirectory(server.url, lambda: tokens.issue("notification", "service"))
    found = directory.contacts("case-1")
    assert server.requests[0][0] == "/internal/v1/cases/case-1/contacts"
    (mother,) = found.guardians
    assert (mother.email, mother.consent_email, mother.consent_sms, mother.quiet_hours.tz) == (
        "m@example.com", True, False, "Asia/Shanghai",
    )  # fmt: skip
    assert found.school.school_id == "s-1" and found.school.webhook_url is None
    assert directory.contacts("case-unknown") is None
    server.close()
    with pytest.raises(DirectoryUnavailable):
        HttpContactDirectory(server.url, lambda: "t", timeout_s=1).contacts("case-1")


def scheduling_link_route(
    tokens: StaffTokens, known: dict[str, str], status: list[int] | None = None
) -> Responder:
    """Scheduling's ``GET /v1/offers/<id>/link``: a service (or scheduler) token, else 401/403; 404 if unknown."""

    def route(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, bytes]:
        if status:
            return status.pop(0), b'{"message": "busy"}'
        scheme, _, token = handler.headers.get("Authorization", "").partition(" ")
        principal = tokens.verify(token) if scheme == "Bearer" else None
        if principal is None:
            return 401, b"{}"
        if principal.role not in ("service", "scheduler"):
            return 403, b"{}"
        offer_id = unquote(handler.path.removeprefix("/v1/offers/").removesuffix("/link"))
        if handler.command != "GET" or offer_id not in known:
            return 404, b"{}"
        return 200, json.dumps({"offer_id": offer_id, "url": known[offer_id]}).encode()

    return route


def test_offer_links_ask_scheduling_with_a_service_token(serve):
    tokens = StaffTokens("a-long-enough-test-secret")
    server = serve(scheduling_link_route(tokens, {"offer 1": "https://w.example/ui/offer/tok"}, [503]))
    links = HttpOfferLinks(server.url + "/", lambda: tokens.issue("notification", "service"), timeout_s=5)
    with pytest.raises(OfferLinksUnavailable, match="scheduling answered 503"):
        links.answer_url("offer 1")
    assert links.answer_url("offer 1") == "https://w.example/ui/offer/tok"
    assert server.requests[-1][0] == "/v1/offers/offer%201/link"
    assert links.answer_url("offer-unknown") is None
    stranger = StaffTokens("another-secret-0123")
    with pytest.raises(OfferLinksUnavailable, match="401"):  # a wrong secret is not "the offer is gone"
        HttpOfferLinks(server.url, lambda: stranger.issue("n", "service")).answer_url("offer 1")
    server.close()
    with pytest.raises(OfferLinksUnavailable, match="unreachable"):
        HttpOfferLinks(server.url, lambda: "t", timeout_s=1).answer_url("offer 1")


def test_offer_email_carries_the_link_scheduling_serves(serve, harness, clock):
    """Wired by bootstrap: NOTIFICATION_SCHEDULING_URL and a service token from the shared staff secret."""
    config = settings()
    tokens = StaffTokens(config.staff_token_secret)
    answer = "https://waymark.example/ui/offer/from-scheduling"
    scheduling = serve(scheduling_link_route(tokens, {"offer-7": answer}))
    email = RecordingChannel()
    service = build(
        settings(NOTIFICATION_SCHEDULING_URL=scheduling.url), db=harness.db, clock=clock,
        directory=MemoryContactDirectory({"case-1": contacts()}),
        channels={"email": email, "sms": RecordingChannel(), "webhook": RecordingChannel()},
    )  # fmt: skip
    service.handlers["waitlist.offer_made"](offer_made())
    service.handlers["waitlist.offer_made"](offer_made("offer-8", subject="case-1"))
    assert {m.to for m in email.sent} == {"mother@example.com", "father@example.com"}
    assert all(answer in m.body for m in email.sent)
    assert [p for p, _, _ in scheduling.requests].count("/v1/offers/offer-8/link") == 3
    states = {(d["context"]["offer_id"], d["state"]) for d in harness.db.deliveries.find({})}
    assert states == {("offer-7", "sent"), ("offer-8", "withdrawn")}
    assert answer not in repr(list(harness.db.deliveries.find({})))
