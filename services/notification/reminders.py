"""Durable appointment reminders and the scheduler pass that sends what is due.

Reminders live in MongoDB (collection ``reminders``), so they survive restarts; a
move withdraws the old time's reminders and schedules new ones, a cancellation or a
withdrawn referral withdraws them. The worker runs :func:`loop` as a background duty
(``Service.background``); each pass (:func:`run_due`) turns due reminders into
deliveries, releases attempts whose worker died, and attempts every due delivery
(first sends deferred by quiet hours and retries after backoff).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymongo.database import Database

from services.notification.config import NotificationConfig
from services.notification.directory import DirectoryUnavailable
from services.notification.domain.intents import reminder_intent
from services.notification.domain.reminders import due_times, parse_time, reminder_id
from services.notification.repository import SCHEDULED, DeliveryLog, ReminderStore
from services.notification.sender import Clock, Sender

log = logging.getLogger(__name__)
SUPERSEDED = ("appointment_reminder", "appointment_booked", "appointment_moved")
"""Unsent messages that a move or a cancellation makes wrong."""


class Reminders:
    def __init__(self, db: Database, config: NotificationConfig, clock: Clock) -> None:
        self.store = ReminderStore(db)
        self.deliveries = DeliveryLog(db)
        self.config, self.clock = config, clock

    def schedule(self, data: Mapping[str, Any], correlation_id: str) -> int:
        """Reminders for a booked (or moved) appointment; re-handling the event adds none."""
        start = parse_time(data["start"])
        now = self.clock()
        created = 0
        for days, due_at in due_times(start, now, self.config.reminder_days):
            doc = {
                "_id": reminder_id(data["appointment_id"], start, days),
                "case_id": data["case_id"],
                "appointment_id": data["appointment_id"],
                "hospital_id": data.get("hospital_id"),
                "kind": data.get("kind"),
                "start": data["start"],
                "end": data.get("end"),
                "start_at": start,
                "days_before": days,
                "due_at": due_at,
                "state": SCHEDULED,
                "created_at": now,
                "correlation_id": correlation_id,
            }
            created += self.store.schedule(doc)
        return created

    def withdraw_appointment(
        self, appointment_id: str, reason: str, keep_start: datetime | None = None
    ) -> int:
        """Withdraw an appointment's reminders and unsent messages about it, except for ``keep_start``."""
        now = self.clock()
        query: dict[str, Any] = {"appointment_id": appointment_id}
        stale = {**query, "template": {"$in": list(SUPERSEDED)}}
        if keep_start is not None:
            query["start_at"] = {"$ne": keep_start}
            stale["appointment_start"] = {"$ne": keep_start}
        withdrawn = self.store.withdraw(query, now, reason)  # markers first: a pass checks them
        self.deliveries.withdraw(stale, now, reason)
        return withdrawn

    def withdraw_case(self, case_id: str, reason: str) -> int:
        now = self.clock()
        # on-call escalations stand even when the school withdraws the referral
        withdrawn = self.store.withdraw({"case_id": case_id}, now, reason)  # markers first
        self.deliveries.withdraw({"case_id": case_id, "audience": {"$ne": "oncall"}}, now, reason)
        return withdrawn


def run_due(db: Database, clock: Clock, sender: Sender, limit: int = 100) -> int:
    """One scheduler pass; returns reminders fired plus delivery attempts made."""
    now = clock()
    store, deliveries = ReminderStore(db), DeliveryLog(db)
    done = 0
    deliveries.release_stale(now)
    for reminder in store.due(now, limit):
        origin = f"reminder:{reminder['_id']}"
        try:
            planned = sender.plan(
                reminder_intent(reminder), origin, reminder.get("correlation_id") or origin, now.isoformat()
            )
        except DirectoryUnavailable:
            log.warning("contacts unavailable; reminder stays due", extra={"reminder": reminder["_id"]})
            continue
        withdrawal = store.withdrawal(reminder["_id"])
        if withdrawal is not None:  # cancelled or moved while this pass planned: never send it
            deliveries.withdraw({"_id": {"$in": planned}}, now, withdrawal["reason"])
            continue
        store.fired(reminder["_id"], now)
        done += 1
    for key in deliveries.due(now, limit):
        if sender.attempt(key) is not None:
            done += 1
    return done


def loop(
    stop: threading.Event, db: Database, clock: Clock, sender: Sender, config: NotificationConfig
) -> None:
    """Run :func:`run_due` until ``stop`` is set; a failing pass is logged and retried, never fatal."""
    log.info("reminder scheduler started", extra={"interval_s": config.scheduler_interval_s})
    while not stop.is_set():
        try:
            if run_due(db, clock, sender) > 0:
                continue  # more may be due: drain before sleeping
        except Exception:
            log.exception("scheduler pass failed; retrying")
        stop.wait(config.scheduler_interval_s)
