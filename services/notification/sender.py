"""Planning deliveries and making attempts: the heart of the service.

A delivery is created under a key derived from its origin (the event's dedupe key or
the reminder's id), the recipient reference and the channel, in state ``pending``,
BEFORE anything is sent; so a redelivered event finds its deliveries and sends nothing
twice. Each attempt claims the delivery (conditional update), resolves the address
afresh (consent may have changed), honours quiet hours, fetches what must never be
stored (an offer's answer link from scheduling, a questionnaire link from assessment), sends, and records the outcome with
its notification.sent / notification.failed event in the same update.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from jinja2 import TemplateError
from pymongo.database import Database

from services.notification import metrics
from services.notification.channels.base import Channel, DeliveryError, OutboundMessage
from services.notification.config import NotificationConfig
from services.notification.directory import ContactDirectory, DirectoryUnavailable
from services.notification.domain import recipients
from services.notification.domain.contacts import Contacts
from services.notification.domain.intents import GUARDIANS, ONCALL, SCHOOL, SCHOOL_LIAISON, Intent
from services.notification.domain.quiet_hours import deferred_until
from services.notification.domain.reminders import parse_time
from services.notification.domain.retry import backoff_s
from services.notification.events_out import failed_event, sent_event
from services.notification.offer_links import OfferLinks
from services.notification.questionnaire_links import QuestionnaireLinks
from services.notification.rendering import Renderer, webhook_body
from services.notification.repository import (
    DEAD,
    PENDING,
    RETRYING,
    SENDING,
    SENT,
    WITHDRAWN,
    DeliveryLog,
)
from shared.outbox import Outbox

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
Looked = dict[str, "Contacts | None"]
"""Contacts already read while handling one event, by case id (``Sender.contacts``)."""


def delivery_id(origin: str, template: str, ref: str, channel: str) -> str:
    return hashlib.sha256(f"{origin}|{template}|{ref}|{channel}".encode()).hexdigest()[:32]


class _Gone(Exception):
    """What the message needs no longer exists (e.g. the offer): the delivery is withdrawn."""


def _start_of(intent: Intent) -> datetime | None:
    start = intent.context.get("start")
    return parse_time(start) if start else None


class Sender:
    def __init__(
        self,
        db: Database,
        config: NotificationConfig,
        channels: Mapping[str, Channel],
        directory: ContactDirectory,
        renderer: Renderer,
        clock: Clock,
        outbox: Outbox,
        rand: Callable[[float, float], float] = random.uniform,
        *,
        offer_links: OfferLinks | None = None,
        questionnaire_links: QuestionnaireLinks | None = None,
    ) -> None:
        self.log = DeliveryLog(db, outbox)
        self.config, self.channels, self.directory = config, channels, directory
        self.renderer, self.clock, self.rand = renderer, clock, rand
        self.offer_links = offer_links
        self.questionnaire_links = questionnaire_links

    def plan(
        self,
        intent: Intent,
        origin: str,
        correlation_id: str,
        occurred_at: str,
        looked_up: Looked | None = None,
        created: dict[str, dict[str, Any]] | None = None,
    ) -> list[str]:
        """Create the intent's deliveries (idempotently); their ids, new or already there.

        ``looked_up`` (see ``contacts``) shares one contacts read between the intents of one
        event and the first attempts that follow at once. With ``created``, the caller attempts
        each new delivery at once: it is inserted already claimed for that first attempt
        (``sending`` under a lease; the unique insert is the claim, as ``<id>:<seq>`` is for
        later ones) and lands in ``created``. A redelivered event's deliveries are found, not
        inserted, so they are not in it and its attempts go through ``claim`` (and find them
        taken). A creator that dies before finishing leaves ``sending``: the lease runs out and
        the scheduler retries it (``release_stale``), as for any attempt.
        """
        contacts = (
            self.contacts(intent.case_id, looked_up) if intent.audience in (GUARDIANS, SCHOOL) else None
        )
        oncall = (
            self.config.oncall_for(intent.hospital_id, intent.oncall_key)
            if intent.audience == ONCALL
            else None
        )
        now = self.clock()
        ids = []
        first: dict[str, Any] = (
            {"state": SENDING, "lease_until": now + timedelta(seconds=self.config.lease_s)}
            if created is not None
            else {"state": PENDING}
        )
        found = recipients.targets(intent, contacts, oncall)
        if intent.audience == ONCALL and not found:
            # Never silent (HZ-02): the task stays in assessment's worklist; this is counted and paged.
            metrics.ONCALL_UNREACHABLE.labels(intent.template).inc()
            log.error(
                "no on-call address for this alert",
                extra={
                    "template": intent.template,
                    "hospital_id": intent.hospital_id,
                    "case_id": intent.case_id,
                },
            )
        for target in found:
            key = delivery_id(origin, intent.template, target.ref, target.channel)
            ids.append(key)
            doc = {
                "_id": key,
                "origin": origin,
                "template": intent.template,
                "audience": intent.audience,
                "case_id": intent.case_id or None,
                "hospital_id": intent.hospital_id,
                "oncall_key": intent.oncall_key,
                "appointment_id": intent.context.get("appointment_id"),
                "appointment_start": _start_of(intent),
                "channel": target.channel,
                "recipient": target.ref,
                "recipient_masked": target.masked,
                "language": target.language,
                "context": dict(intent.context),
                "liaison_context": dict(intent.liaison_context),
                "needs_consent": intent.needs_consent,
                "urgent": intent.urgent,
                **first,
                "attempts": 0,
                "seq": 0,
                "replays": 0,
                "max_attempts": self.config.max_attempts,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
                "occurred_at": occurred_at,
                "correlation_id": correlation_id,
                "history": [],
            }
            if self.log.create(doc) and created is not None:
                created[key] = doc
        return ids

    def contacts(self, case_id: str, looked_up: Looked | None = None) -> Contacts | None:
        """The case's contacts from referral; with ``looked_up``, read once per case for its holder.

        A consumer handling one event passes a fresh dict: the event's plan and its immediate
        attempts (milliseconds apart) then cost one HTTP call to referral, not one per intent
        and one more per attempt. Every later attempt (a retry, a reminder) reads afresh, so a
        consent withdrawn since is honoured from then on.
        """
        if looked_up is not None and case_id in looked_up:
            return looked_up[case_id]
        found = self.directory.contacts(case_id)
        if looked_up is not None:
            looked_up[case_id] = found
        return found

    def deliver(
        self,
        ids: Iterable[str],
        looked_up: Looked | None = None,
        created: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        unattempted = dict(created or {})  # each created delivery is attempted once, here
        try:
            for key in ids:
                self.attempt(key, looked_up, unattempted.pop(key, None))
        finally:
            self.release_unattempted(unattempted)

    def release_unattempted(self, created: Mapping[str, Any]) -> None:
        """Created deliveries this handling never attempted (it failed first) are due again at
        once: not left ``sending`` until their lease runs out (an on-call alert among them)."""
        if created:
            self.log.release_unattempted(list(created), self.clock())

    def attempt(
        self, key: str, looked_up: Looked | None = None, created: dict[str, Any] | None = None
    ) -> str | None:
        """One attempt if the delivery is due and unclaimed; the resulting state, else None.

        ``created``: the delivery as this process just inserted it (its first attempt).
        """
        now = self.clock()
        doc = self.log.claim(key, now, now + timedelta(seconds=self.config.lease_s), created)
        if doc is None:
            return None
        try:
            resolved = self._resolve(doc, looked_up)
        except DirectoryUnavailable as exc:
            return self._failed(doc, now, str(exc), permanent=False)
        if resolved is None:
            return self._withdrawn(doc, now, "recipient_gone")
        if doc["audience"] == GUARDIANS and not doc["urgent"]:
            until = deferred_until(now, resolved.quiet_hours)
            if until is not None:
                until_utc = until.astimezone(UTC)
                update = {"state": PENDING, "next_attempt_at": until_utc, "deferred_until": until_utc}
                self.log.finish(doc, {"$set": {**update, "updated_at": now}})
                metrics.NOTIFICATIONS.labels(doc["channel"], "deferred").inc()
                return PENDING
        try:
            message = self._message(doc, resolved)
            channel = self.channels.get(doc["channel"])
            if channel is None:
                raise DeliveryError(f"no {doc['channel']} channel configured", permanent=True)
            provider_id = channel.send(message)
        except _Gone as exc:
            return self._withdrawn(doc, now, str(exc))
        except DirectoryUnavailable as exc:
            return self._failed(doc, now, str(exc), permanent=False)
        except DeliveryError as exc:
            return self._failed(doc, now, exc.reason, exc.permanent)
        except TemplateError as exc:
            return self._failed(doc, now, f"template: {exc}", permanent=True)
        attempts = doc["attempts"] + 1
        update = {
            "$set": {"state": SENT, "sent_at": now, "attempts": attempts, "updated_at": now,
                     "provider_id": provider_id, "last_error": None},
            "$push": {"history": {"at": now, "result": SENT}},
        }  # fmt: skip
        self.log.finish(doc, update, [sent_event(doc, attempts)])
        metrics.NOTIFICATIONS.labels(doc["channel"], "sent").inc()
        return SENT

    def _withdrawn(self, doc: dict[str, Any], now: datetime, reason: str) -> str:
        self.log.finish(doc, {"$set": {"state": WITHDRAWN, "last_error": reason, "updated_at": now}})
        metrics.NOTIFICATIONS.labels(doc["channel"], "withdrawn").inc()
        return WITHDRAWN

    def _failed(self, doc: dict[str, Any], now: datetime, reason: str, permanent: bool) -> str:
        attempts = doc["attempts"] + 1
        history = {"at": now, "result": "failed", "error": reason}
        if permanent or attempts >= doc["max_attempts"]:
            update = {"$set": {"state": DEAD, "attempts": attempts, "last_error": reason, "updated_at": now},
                      "$push": {"history": history}}  # fmt: skip
            self.log.finish(doc, update, [failed_event(doc, attempts, reason)])
            metrics.NOTIFICATIONS.labels(doc["channel"], "dead").inc()
            log.warning(
                "delivery dead", extra={"delivery": doc["_id"], "reason": reason, "attempts": attempts}
            )
            return DEAD
        delay = backoff_s(attempts, self.config.retry_base_s, self.config.retry_max_s, self.rand)
        update = {
            "$set": {"state": RETRYING, "attempts": attempts, "last_error": reason, "updated_at": now,
                     "next_attempt_at": now + timedelta(seconds=delay)},
            "$push": {"history": history},
        }  # fmt: skip
        self.log.finish(doc, update)
        metrics.NOTIFICATIONS.labels(doc["channel"], "retry").inc()
        return RETRYING

    def _resolve(self, doc: dict[str, Any], looked_up: Looked | None = None) -> recipients.Resolved | None:
        audience = doc["audience"]
        contacts = self.contacts(doc["case_id"], looked_up) if audience in (GUARDIANS, SCHOOL) else None
        oncall = (
            self.config.oncall_for(doc.get("hospital_id"), doc.get("oncall_key"))
            if audience == ONCALL
            else None
        )
        resolved = recipients.resolve(
            audience, doc["channel"], doc["recipient"], contacts, oncall, doc.get("needs_consent")
        )
        if resolved is not None and doc.get("liaison_context"):
            # Liaison detail (an appointment's time) only while a guardian still consents (HZ-13).
            liaison = contacts is not None and contacts.consented(SCHOOL_LIAISON)
            doc["context"] = {**doc["context"], **(doc["liaison_context"] if liaison else {})}
        return resolved

    def _message(self, doc: dict[str, Any], to: recipients.Resolved) -> OutboundMessage:
        if doc["channel"] == "webhook":
            school_id = doc["recipient"].removeprefix("school:")
            body = webhook_body(doc["_id"], doc["case_id"], school_id, doc["context"], doc["occurred_at"])
            return OutboundMessage(doc["_id"], "webhook", to.address, body, secret=to.secret)
        tz = to.quiet_hours.tz if to.quiet_hours else self.config.default_tz
        context = {**doc["context"], "case_id": doc.get("case_id") or "", **self._secrets(doc)}
        text = self.renderer.render(doc["template"], to.language, context, tz)
        body = text["sms"] if doc["channel"] == "sms" else text["email"]
        return OutboundMessage(doc["_id"], doc["channel"], to.address, body, subject=text["subject"])

    def _secrets(self, doc: dict[str, Any]) -> dict[str, str]:
        """Context fetched at send time and only rendered, never stored: links carrying a secret token."""
        if doc["template"] == "questionnaire":
            return self._questionnaire_secrets(doc)
        if doc["template"] != "offer_made":
            return {}
        if self.offer_links is None:
            raise DeliveryError("no offer link source configured", permanent=True)
        url = self.offer_links.answer_url(str(doc["context"]["offer_id"]))
        if url is None:
            raise _Gone("offer_gone")
        return {"answer_url": url}

    def _questionnaire_secrets(self, doc: dict[str, Any]) -> dict[str, str]:
        if self.questionnaire_links is None:
            raise DeliveryError("no questionnaire link source configured", permanent=True)
        url = self.questionnaire_links.questionnaire_url(str(doc["context"]["invitation_id"]))
        if url is None:
            raise _Gone("questionnaire_gone")
        return {"questionnaire_url": url}
