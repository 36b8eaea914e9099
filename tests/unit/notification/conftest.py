"""Fakes for the notification service: a settable clock, recording channels, in-memory contacts and offer links."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import mongomock
import pytest

from services.notification.bootstrap import build
from services.notification.channels.base import RecordingChannel
from services.notification.directory import MemoryContactDirectory
from services.notification.domain.contacts import Contacts, Guardian, QuietHours, School
from services.notification.offer_links import MemoryOfferLinks
from services.notification.questionnaire_links import MemoryQuestionnaireLinks
from shared.auth import StaffTokens
from shared.events import Event, event_type
from shared.service import Service
from shared.settings import Settings

CASE = "case-1"
OFFER = "offer-7"
ANSWER_URL = "https://waymark.example/ui/offer/s3cr3t-t0ken"
INVITATION = "qi_0123456789abcdef01234567"
QUESTIONNAIRE_URL = "https://waymark.example/q/q-s3cr3t-t0ken"
SECRET = "school-secret-123"
ONCALL = '{"hosp-a": {"email": "oncall-a@hospital.example", "phone": "+8613900000001"}, "default": {"email": "network@hospital.example"}, "dr-second": {"email": "second@hospital.example"}}'


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@dataclass
class Harness:
    service: Service
    clock: FakeClock
    email: RecordingChannel
    sms: RecordingChannel
    webhook: RecordingChannel
    directory: MemoryContactDirectory
    offer_links: MemoryOfferLinks
    questionnaire_links: MemoryQuestionnaireLinks

    @property
    def db(self):
        return self.service.db

    def service_sender(self):
        """The Sender the service was built with (reached through a handler's closure)."""
        return self.service.handlers["referral.submitted"].__self__.sender

    def handle(self, event: Event) -> None:
        self.service.handlers[event.name](event)

    def outbox(self) -> list[dict]:
        return [e for d in self.db.deliveries.find({}) for e in d.get("outbox", [])]

    def operator(self) -> dict[str, str]:
        token = StaffTokens(self.service.settings.staff_token_secret).issue("op-1", "operator")
        return {"Authorization": f"Bearer {token}"}


EVERY_SCOPE = frozenset({"referral", "share_with_hospitals", "questionnaires", "school_liaison"})


def contacts(
    case_id: str = CASE,
    webhook_url: str | None = "https://school.example/hooks",
    scopes: frozenset[str] = EVERY_SCOPE,
    father_scopes: frozenset[str] | None = None,
) -> Contacts:
    mother = Guardian(
        "mother", "mother@example.com", "+8613800000001", "zh-CN", True, True,
        QuietHours("21:00", "08:00", "Asia/Shanghai"), scopes,
    )  # fmt: skip
    father = Guardian(
        "father", "father@example.com", "+8613800000002", "en", True, False, None,
        scopes if father_scopes is None else father_scopes,
    )  # fmt: skip
    return Contacts(case_id, (mother, father), School("school-9", webhook_url, SECRET))


def settings(**extra: str) -> Settings:
    return Settings(
        service="notification",
        extra={"NOTIFICATION_ONCALL": ONCALL, "NOTIFICATION_RETRY_BASE_S": "60", "NOTIFICATION_MAX_ATTEMPTS": "3",
               **extra},
    )  # fmt: skip


def event(name: str, subject: str = CASE, **data) -> Event:
    producer = name.split(".", maxsplit=1)[0]
    producer = {"waitlist": "scheduling", "appointment": "scheduling", "followup": "assessment"}.get(
        producer, producer
    )
    return Event(event_type(name), f"/services/{producer}", subject, {"case_id": subject, **data})


def offer_made(offer_id: str = OFFER, **extra) -> Event:
    return event(
        "waitlist.offer_made", offer_id=offer_id, hospital_id="hosp-a", kind="intake",
        slot_start="2025-09-10T01:00:00Z", slot_end="2025-09-10T01:45:00Z", hold_until="2025-09-03T01:00:00Z",
        **extra,
    )  # fmt: skip


def booked(name: str = "appointment.booked", start: str = "2025-09-10T01:00:00Z", **extra) -> Event:
    return event(
        name, appointment_id="appt-1", hospital_id="hosp-a", start=start, end="2025-09-10T01:45:00Z",
        kind="intake", **extra,
    )  # fmt: skip


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2025, 9, 1, 4, 0, tzinfo=UTC))  # 12:00 in Shanghai


@pytest.fixture
def harness(clock) -> Harness:
    email, sms, webhook = RecordingChannel(), RecordingChannel(), RecordingChannel()
    directory = MemoryContactDirectory({CASE: contacts()})
    offer_links = MemoryOfferLinks({OFFER: ANSWER_URL})
    questionnaire_links = MemoryQuestionnaireLinks({INVITATION: QUESTIONNAIRE_URL})
    service = build(
        settings(),
        db=mongomock.MongoClient(tz_aware=True)["notification"],
        clock=clock,
        channels={"email": email, "sms": sms, "webhook": webhook},
        directory=directory,
        offer_links=offer_links,
        questionnaire_links=questionnaire_links,
    )
    return Harness(service, clock, email, sms, webhook, directory, offer_links, questionnaire_links)
