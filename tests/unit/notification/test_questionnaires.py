"""Guardian questionnaires: the link is fetched from assessment per send, rendered, and never kept."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import mongomock
import pytest
from werkzeug.serving import make_server

from services.assessment.bootstrap import build as build_assessment
from services.notification.bootstrap import build
from services.notification.channels.base import RecordingChannel
from services.notification.domain.intents import GUARDIANS, intents_for
from services.notification.questionnaire_links import HttpQuestionnaireLinks, QuestionnaireLinksUnavailable
from services.notification.reminders import run_due
from shared.auth import StaffTokens
from shared.events import Event, event_type
from shared.settings import Settings

from .conftest import CASE, INVITATION, QUESTIONNAIRE_URL, MemoryContactDirectory, contacts, event, settings

DUE = "2025-09-10T01:00:00Z"  # 09:00 in Shanghai, 02:00 in London


def requested(invitation_id: str = INVITATION, **extra) -> Event:
    return event(
        "assessment.questionnaire_requested", invitation_id=invitation_id,
        instruments=["phq-a", "gad-7", "asq"], due_by=DUE, **extra,
    )  # fmt: skip


def sent_to(channel: RecordingChannel, address: str):
    return next(m for m in channel.sent if m.to == address)


class TestIntent:
    def test_guardians_get_the_questionnaire_message_without_clinical_facts(self):
        data = {"case_id": CASE, "invitation_id": INVITATION, "instruments": ["asq"], "due_by": DUE}
        (intent,) = intents_for("assessment.questionnaire_requested", data)
        assert (intent.template, intent.audience, intent.channels) == (
            "questionnaire",
            GUARDIANS,
            ("email", "sms"),
        )
        assert dict(intent.context) == {"invitation_id": INVITATION, "due_by": DUE}


class TestQuestionnaireMessage:
    def test_both_languages_carry_the_fetched_link_and_the_due_date(self, harness):
        harness.handle(requested())
        father = sent_to(harness.email, "father@example.com")  # en
        assert father.subject == "A short questionnaire before your appointment"
        assert f"please complete a short questionnaire: {QUESTIONNAIRE_URL}" in father.body
        assert "Wednesday 10 September 2025, 09:00" in father.body
        mother = sent_to(harness.email, "mother@example.com")  # zh-CN
        assert mother.subject == "预约前请填写一份简短问卷"
        assert f"请填写一份简短问卷：{QUESTIONNAIRE_URL}" in mother.body
        assert "2025年9月10日（星期三）09:00" in mother.body
        [sms] = harness.sms.sent  # only the mother consented to SMS
        assert QUESTIONNAIRE_URL in sms.body and "2025年9月10日" in sms.body and len(sms.body) <= 320
        assert harness.questionnaire_links.asked == [INVITATION] * 3
        assert harness.offer_links.asked == []
        for message in [*harness.email.sent, *harness.sms.sent]:
            assert "asq" not in message.body.lower() and "phq" not in message.body.lower()

    def test_the_link_is_never_stored_in_the_delivery_or_its_events(self, harness):
        harness.handle(requested(token="bus-token", url="https://bus.example/q"))
        docs = list(harness.db.deliveries.find({"template": "questionnaire"}))
        assert len(docs) == 3 and {d["state"] for d in docs} == {"sent"}
        stored = repr(docs) + repr(harness.outbox())
        for secret in (QUESTIONNAIRE_URL, "q-s3cr3t-t0ken", "/q/", "bus-token", "bus.example"):
            assert secret not in stored
        assert docs[0]["context"] == {"invitation_id": INVITATION, "due_by": DUE}

    def test_redelivery_sends_nothing_twice(self, harness):
        e = requested()
        harness.handle(e)
        harness.handle(e)
        assert len(harness.email.sent) == 2 and len(harness.sms.sent) == 1

    def test_an_invitation_assessment_no_longer_serves_is_withdrawn(self, harness):
        harness.handle(requested("qi_gone"))
        docs = list(harness.db.deliveries.find({"template": "questionnaire"}))
        assert [(d["state"], d["last_error"]) for d in docs] == [("withdrawn", "questionnaire_gone")] * 3
        assert harness.email.sent == harness.sms.sent == []

    def test_assessment_unavailable_is_retried(self, harness, clock):
        harness.questionnaire_links.unavailable = True
        harness.handle(requested())
        docs = list(harness.db.deliveries.find({"template": "questionnaire"}))
        assert {d["state"] for d in docs} == {"retrying"} and harness.email.sent == []
        harness.questionnaire_links.unavailable = False
        clock.advance(minutes=5)
        run_due(harness.db, clock, harness.service_sender())
        assert {d["state"] for d in harness.db.deliveries.find({"template": "questionnaire"})} == {"sent"}
        assert all(QUESTIONNAIRE_URL in m.body for m in harness.email.sent)

    def test_quiet_hours_defer_and_the_link_is_fetched_at_the_send(self, harness, clock):
        clock.now = datetime(2025, 9, 1, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai: the mother's quiet hours
        harness.handle(requested())
        assert harness.questionnaire_links.asked == [INVITATION]  # only the father's email went out


@pytest.fixture
def assessment():
    """The real assessment service on a loopback port, sharing the platform's staff secret."""
    service = build_assessment(
        Settings(
            service="assessment",
            extra={
                "ASSESSMENT_PUBLIC_BASE_URL": "https://forms.example",
                # guardian links carry parent forms only (HZ-04): the network licenses one
                "ASSESSMENT_LICENSED_INSTRUMENTS": "sras-r",
            },
        ),
        db=mongomock.MongoClient(tz_aware=True)["assessment"],
    )
    server = make_server("127.0.0.1", 0, service.app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield service, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def test_the_link_comes_from_assessments_route_with_a_service_token(assessment, clock):
    service, url = assessment
    referral = {
        "case_id": CASE, "referred_on": "2025-09-01", "risk_flags": [], "age_years": 12,
        "consent_scopes": ["questionnaires"],
        "preferences": {"hospitals": ["hosp-a"]},
    }  # fmt: skip
    service.handlers["referral.submitted"](
        Event(event_type("referral.submitted"), "/services/referral", CASE, referral)
    )
    booking = {
        "case_id": CASE, "appointment_id": "appt-1", "hospital_id": "hosp-a", "start": DUE,
        "end": "2025-09-10T01:45:00Z", "kind": "intake",
    }  # fmt: skip
    service.handlers["appointment.booked"](
        Event(event_type("appointment.booked"), "/services/scheduling", CASE, booking)
    )
    invitation = service.db.questionnaires.find_one()
    [published] = invitation["outbox"]
    email = RecordingChannel()
    notification = build(
        settings(NOTIFICATION_ASSESSMENT_URL=url), db=mongomock.MongoClient(tz_aware=True)["n"], clock=clock,
        directory=MemoryContactDirectory({CASE: contacts()}),
        channels={"email": email, "sms": RecordingChannel(), "webhook": RecordingChannel()},
    )  # fmt: skip
    notification.handlers["assessment.questionnaire_requested"](Event.from_dict(published))
    link = f"https://forms.example/q/{invitation['token']}"
    assert len(email.sent) == 2 and all(link in m.body for m in email.sent)
    assert invitation["token"] not in repr(list(notification.db.deliveries.find()))

    links = HttpQuestionnaireLinks(
        url, lambda: StaffTokens(Settings.staff_token_secret).issue("n", "service")
    )
    assert links.questionnaire_url("qi_unknown") is None
    clinician = HttpQuestionnaireLinks(
        url, lambda: StaffTokens(Settings.staff_token_secret).issue("c", "clinician")
    )
    with pytest.raises(QuestionnaireLinksUnavailable, match="assessment answered 403"):
        clinician.questionnaire_url(invitation["_id"])
