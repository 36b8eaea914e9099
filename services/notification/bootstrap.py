"""The composition root: settings, store, channels, directory and handlers wired into a Service.

Tests pass ``db``, ``clock``, ``channels``, ``directory``, ``offer_links`` and
``questionnaire_links`` fakes; everything else is built from ``settings`` (NOTIFICATION_* keys, see config.py). The returned Service
carries the reminder scheduler as a background duty, which the worker runs.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime

from pymongo.database import Database

from services.notification import api, reminders
from services.notification.channels.base import Channel
from services.notification.channels.email import LogEmailChannel, SmtpChannel
from services.notification.channels.sms import LoggingSmsProvider, SmsChannel
from services.notification.channels.webhook import WebhookChannel
from services.notification.config import NotificationConfig
from services.notification.directory import (
    ContactDirectory,
    HttpContactDirectory,
)
from services.notification.handlers import EventHandlers
from services.notification.offer_links import HttpOfferLinks, OfferLinks
from services.notification.policies import POLICIES
from services.notification.questionnaire_links import HttpQuestionnaireLinks, QuestionnaireLinks
from services.notification.rendering import Renderer
from services.notification.repository import CLAIMS, INDEXES, WITHDRAWALS, ReminderStore
from services.notification.sender import Clock, Sender
from shared import auth, health, housekeeping, store, topics
from shared.auth import StaffTokens, TokenSource
from shared.http import create_app
from shared.outbox import Outbox
from shared.service import Service
from shared.settings import Settings

NAME = "notification"
CONSUMES = [topics.events("referral"), topics.events("assessment"), topics.events("scheduling")]


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_channels(config: NotificationConfig) -> dict[str, Channel]:
    if config.sms_provider != "log":
        raise ValueError(
            f"unknown NOTIFICATION_SMS_PROVIDER {config.sms_provider!r} (only 'log' is built in)"
        )
    email: Channel = LogEmailChannel()
    if config.email_transport == "smtp":
        email = SmtpChannel(
            config.smtp_host, config.smtp_port, config.smtp_sender,
            user=config.smtp_user, password=config.smtp_password, starttls=config.smtp_starttls,
        )  # fmt: skip
    return {
        "email": email,
        "sms": SmsChannel(LoggingSmsProvider()),
        "webhook": WebhookChannel(
            timeout_s=config.http_timeout_s, allow_loopback=config.allow_loopback_webhooks
        ),
    }


def default_directory(settings: Settings, config: NotificationConfig) -> ContactDirectory:
    token = TokenSource(StaffTokens(settings.staff_token_secret), NAME)
    http = HttpContactDirectory(config.referral_url, token, timeout_s=config.http_timeout_s)
    return http


def default_offer_links(settings: Settings, config: NotificationConfig) -> OfferLinks:
    token = TokenSource(StaffTokens(settings.staff_token_secret), NAME)
    return HttpOfferLinks(config.scheduling_url, token, timeout_s=config.http_timeout_s)


def default_questionnaire_links(settings: Settings, config: NotificationConfig) -> QuestionnaireLinks:
    token = TokenSource(StaffTokens(settings.staff_token_secret), NAME)
    return HttpQuestionnaireLinks(config.assessment_url, token, timeout_s=config.http_timeout_s)


def build(
    settings: Settings,
    *,
    db: Database | None = None,
    clock: Clock | None = None,
    channels: Mapping[str, Channel] | None = None,
    directory: ContactDirectory | None = None,
    offer_links: OfferLinks | None = None,
    questionnaire_links: QuestionnaireLinks | None = None,
) -> Service:
    config = NotificationConfig.from_settings(settings)
    db = db if db is not None else store.connect(settings)
    store.ensure_indexes(db, INDEXES)
    clock = clock or utc_now
    outbox = Outbox.for_settings(db, settings)
    sender = Sender(
        db,
        config,
        dict(channels) if channels is not None else default_channels(config),
        directory if directory is not None else default_directory(settings, config),
        Renderer(),
        clock,
        outbox,
        offer_links=offer_links if offer_links is not None else default_offer_links(settings, config),
        questionnaire_links=(
            questionnaire_links
            if questionnaire_links is not None
            else default_questionnaire_links(settings, config)
        ),
    )
    tokens = auth.for_service(settings, db)
    handlers = EventHandlers(sender, reminders.Reminders(db, config, clock), config)
    app = create_app(
        NAME,
        title="Waymark notification",
        description="Delivery log, dead letters and reminders of every outbound message.",
        blueprints=api.blueprints(sender, ReminderStore(db), tokens),
        checks=health.checks(settings, db),
        trusted_origins=settings.trusted_origins,
    )
    auth.install_policies(app, tokens, POLICIES)

    def scheduler(stop: threading.Event) -> None:
        reminders.loop(stop, db, clock, sender, config)

    return Service(
        settings=settings,
        db=db,
        app=app,
        outbox=outbox,
        handlers=handlers.registry(),
        consumes=CONSUMES,
        background=[scheduler],
        retained=[  # spent attempts, and withdrawals of reminders long past
            housekeeping.Retention(CLAIMS, "at", housekeeping.DEFAULT_RETENTION),
            housekeeping.Retention(WITHDRAWALS, "at", housekeeping.DEFAULT_RETENTION),
        ],
    )
