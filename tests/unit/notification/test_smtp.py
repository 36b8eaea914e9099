"""The email channel against a real SMTP server (aiosmtpd) on an ephemeral loopback port."""

from __future__ import annotations

import email
import socket
from email.policy import default

import pytest
from aiosmtpd.controller import Controller

from services.notification.bootstrap import build
from services.notification.channels.base import DeliveryError, OutboundMessage, RecordingChannel
from services.notification.channels.email import SmtpChannel

from .conftest import event, settings


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


def test_guardian_email_arrives_at_a_real_smtp_server(smtp_server, harness, clock):
    inbox, port = smtp_server
    extra = {"NOTIFICATION_SMTP_HOST": "127.0.0.1", "NOTIFICATION_SMTP_PORT": str(port),
             "NOTIFICATION_SMTP_SENDER": "Waymark <no-reply@waymark.example>"}  # fmt: skip
    smtp = SmtpChannel("127.0.0.1", port, "Waymark <no-reply@waymark.example>", timeout_s=5)
    service = build(
        settings(**extra), db=harness.db, clock=clock, directory=harness.directory,
        channels={"email": smtp, "sms": RecordingChannel(), "webhook": RecordingChannel()},
    )  # fmt: skip
    service.handlers["appointment.booked"](
        event(
            "appointment.booked", appointment_id="appt-1", hospital_id="hosp-a", start="2025-09-10T01:00:00Z"
        )
    )
    received = {
        tuple(rcpt): email.message_from_bytes(content, policy=default) for rcpt, content in inbox.messages
    }
    assert set(received) == {("mother@example.com",), ("father@example.com",)}
    mother = received[("mother@example.com",)]
    assert mother["Subject"] == "您的预约已确认"
    assert mother["From"] == "Waymark <no-reply@waymark.example>"
    assert "2025年9月10日" in mother.get_content()
    assert mother["X-Waymark-Delivery"]
    assert {d["state"] for d in harness.db.deliveries.find({"channel": "email"})} == {"sent"}


def test_refused_mailbox_is_a_permanent_failure(smtp_server):
    _inbox, port = smtp_server
    smtp = SmtpChannel("127.0.0.1", port, "no-reply@waymark.example", timeout_s=5)
    with pytest.raises(DeliveryError) as failure:
        smtp.send(OutboundMessage("d1", "email", "nobody@example.com", "body", subject="s"))
    assert failure.value.permanent


def test_unreachable_relay_is_a_temporary_failure():
    smtp = SmtpChannel("127.0.0.1", free_port(), "no-reply@waymark.example", timeout_s=2)
    with pytest.raises(DeliveryError) as failure:
        smtp.send(OutboundMessage("d1", "email", "a@example.com", "body", subject="s"))
    assert not failure.value.permanent
