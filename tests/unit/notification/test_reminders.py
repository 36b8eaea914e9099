from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from services.notification.bootstrap import build
from services.notification.channels.base import RecordingChannel
from services.notification.reminders import run_due
from services.notification.repository import DeliveryLog

from .conftest import CASE, booked, event, settings


def reminders(h) -> list[tuple[int, str, str]]:
    return sorted((r["days_before"], r["start"], r["state"]) for r in h.db.reminders.find({}))


def reminder_sends(channel: RecordingChannel) -> list[str]:
    return [m.subject for m in channel.sent if "Reminder" in m.subject or "提醒" in m.subject]


class TestReminders:
    def test_booking_schedules_reminders_three_days_and_one_day_before(self, harness):
        harness.handle(booked())
        assert reminders(harness) == [
            (1, "2025-09-10T01:00:00Z", "scheduled"),
            (3, "2025-09-10T01:00:00Z", "scheduled"),
        ]
        due = sorted(r["due_at"] for r in harness.db.reminders.find({}))
        assert due == [datetime(2025, 9, 7, 1, 0, tzinfo=UTC), datetime(2025, 9, 9, 1, 0, tzinfo=UTC)]

    def test_due_reminders_are_sent_once_each(self, harness, clock):
        harness.handle(booked())
        harness.email.sent.clear()
        clock.now = datetime(2025, 9, 7, 1, 0, tzinfo=UTC)  # 09:00 Shanghai
        run_due(harness.db, clock, harness.service_sender())
        run_due(harness.db, clock, harness.service_sender())
        assert sorted(reminder_sends(harness.email)) == [
            "Reminder: appointment in 3 days",
            "提醒：3天后有预约",
        ]
        assert len(harness.sms.sent) == 2  # booking confirmation + one reminder (only the mother consented)
        clock.now = datetime(2025, 9, 9, 1, 0, tzinfo=UTC)
        run_due(harness.db, clock, harness.service_sender())
        assert "Reminder: appointment tomorrow" in reminder_sends(harness.email)
        assert {r[2] for r in reminders(harness)} == {"fired"}

    def test_reminders_survive_a_restart(self, harness, clock):
        harness.handle(booked())
        email = RecordingChannel()
        restarted = build(
            settings(), db=harness.db, clock=clock, directory=harness.directory,
            channels={"email": email, "sms": RecordingChannel(), "webhook": RecordingChannel()},
        )  # fmt: skip
        sender = restarted.handlers["appointment.booked"].__self__.sender
        clock.now = datetime(2025, 9, 7, 2, 0, tzinfo=UTC)
        assert run_due(restarted.db, clock, sender) > 0
        assert len(reminder_sends(email)) == 2

    def test_move_withdraws_old_reminders_and_schedules_new_ones(self, harness, clock):
        harness.handle(booked())
        moved = booked(
            "appointment.rescheduled", start="2025-09-12T01:00:00Z", previous_start="2025-09-10T01:00:00Z"
        )
        harness.handle(moved)
        harness.handle(moved)  # redelivered: the new reminders stay scheduled
        assert reminders(harness) == [
            (1, "2025-09-10T01:00:00Z", "withdrawn"),
            (1, "2025-09-12T01:00:00Z", "scheduled"),
            (3, "2025-09-10T01:00:00Z", "withdrawn"),
            (3, "2025-09-12T01:00:00Z", "scheduled"),
        ]
        assert any(m.subject == "Your appointment has moved" for m in harness.email.sent)
        clock.now = datetime(2025, 9, 7, 2, 0, tzinfo=UTC)
        run_due(harness.db, clock, harness.service_sender())
        assert reminder_sends(harness.email) == []  # the old time's 3-day reminder is gone

    def test_cancellation_withdraws_reminders_and_unsent_messages(self, harness, clock):
        clock.now = datetime(2025, 9, 1, 14, 0, tzinfo=UTC)  # quiet hours: the mother's confirmation waits
        harness.handle(booked())
        harness.handle(booked("appointment.cancelled", reason="clinic_closed"))
        assert {r[2] for r in reminders(harness)} == {"withdrawn"}
        states = {
            (d["template"], d["channel"], d["recipient_masked"]): d["state"]
            for d in harness.db.deliveries.find()
        }
        assert states[("appointment_booked", "sms", "***0001")] == "withdrawn"
        assert states[("appointment_cancelled", "sms", "***0001")] == "pending"  # deferred to the morning
        clock.now = datetime(2025, 9, 2, 0, 0, tzinfo=UTC)
        run_due(harness.db, clock, harness.service_sender())
        assert [m.body for m in harness.sms.sent if "取消" in m.body]
        assert not [m.body for m in harness.sms.sent if "已预约" in m.body]

    def test_withdrawn_referral_withdraws_reminders_and_pending_messages(self, harness, clock):
        harness.handle(booked())
        harness.handle(event("referral.withdrawn", reason="family_request"))
        assert {r[2] for r in reminders(harness)} == {"withdrawn"}
        clock.now = datetime(2025, 9, 9, 2, 0, tzinfo=UTC)
        harness.email.sent.clear()
        run_due(harness.db, clock, harness.service_sender())
        assert harness.email.sent == []

    def test_reminder_api_lists_a_cases_reminders(self, harness):
        harness.handle(booked())
        client = harness.service.app.test_client()
        items = client.get(f"/v1/reminders?case_id={CASE}", headers=harness.operator()).get_json()["items"]
        assert [i["days_before"] for i in items] == [3, 1]

    def test_scheduler_runs_as_a_background_duty_until_stopped(self, harness):
        (duty,) = harness.service.background
        stop = threading.Event()
        thread = threading.Thread(target=duty, args=(stop,))
        thread.start()
        stop.set()
        thread.join(timeout=5)
        assert not thread.is_alive()


class TestWithdrawalsRacingTheScheduler:
    """A cancellation or a move can land while a scheduler pass or a send is under way (ADR 0003)."""

    def test_a_cancellation_that_lands_while_a_pass_plans_a_reminder_stops_it(self, harness, clock):
        harness.handle(booked())
        clock.now = datetime(2025, 9, 7, 1, 0, tzinfo=UTC)  # the 3-day reminder is due
        sender = harness.service_sender()
        plan = sender.plan

        def cancelled_meanwhile(*args, **kwargs):  # the pass read the reminder as scheduled
            sender.plan = plan  # once: the cancellation plans its own message with it
            harness.handle(booked("appointment.cancelled", reason="clinic_closed"))
            return plan(*args, **kwargs)

        sender.plan = cancelled_meanwhile
        harness.email.sent.clear()
        run_due(harness.db, clock, sender)
        run_due(harness.db, clock, sender)
        assert reminder_sends(harness.email) == []
        planned = list(harness.db.deliveries.find({"template": "appointment_reminder"}))
        assert planned and {d["state"] for d in planned} == {"withdrawn"}

    def test_a_send_in_flight_at_a_cancellation_is_never_retried(self, harness, clock):
        harness.handle(booked())
        clock.now = datetime(2025, 9, 7, 1, 0, tzinfo=UTC)
        log = DeliveryLog(harness.db)
        doc = harness.db.deliveries.find_one({"template": "appointment_booked", "channel": "email"})
        harness.db.deliveries.update_one({"_id": doc["_id"]}, {"$set": {"state": "retrying"}})
        in_flight = log.claim(doc["_id"], clock.now, clock.now + timedelta(seconds=60))
        assert in_flight is not None

        assert log.withdraw({"_id": doc["_id"]}, clock.now, "cancelled") == 1  # the attempt after it
        log.finish(in_flight, {"$set": {"state": "retrying", "next_attempt_at": clock.now}})  # it failed

        assert log.claim(doc["_id"], clock.now, clock.now + timedelta(seconds=60)) is None
        assert harness.db.deliveries.find_one({"_id": doc["_id"]})["state"] == "withdrawn"
