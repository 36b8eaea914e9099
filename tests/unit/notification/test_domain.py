from __future__ import annotations

from datetime import UTC, datetime

from services.notification.config import NotificationConfig, OnCall
from services.notification.domain.contacts import QuietHours, from_json, mask, reference
from services.notification.domain.intents import GUARDIANS, ONCALL, SCHOOL, intents_for
from services.notification.domain.quiet_hours import deferred_until
from services.notification.domain.recipients import resolve, targets
from services.notification.domain.reminders import due_times
from services.notification.domain.retry import backoff_s
from shared.settings import Settings
from tests.support.secrets_env import kafka_settings

from .conftest import contacts

NIGHT = QuietHours("21:00", "08:00", "Asia/Shanghai")


class TestQuietHours:
    def test_late_evening_is_deferred_to_next_morning(self):
        now = datetime(2025, 9, 1, 14, 30, tzinfo=UTC)  # 22:30 Shanghai
        assert deferred_until(now, NIGHT) == datetime(2025, 9, 2, 0, 0, tzinfo=UTC)  # 08:00 Shanghai

    def test_early_morning_is_deferred_to_same_morning(self):
        now = datetime(2025, 9, 1, 22, 0, tzinfo=UTC)  # 06:00 Shanghai on 2 Sep
        assert deferred_until(now, NIGHT) == datetime(2025, 9, 2, 0, 0, tzinfo=UTC)

    def test_daytime_is_not_quiet(self):
        assert deferred_until(datetime(2025, 9, 1, 4, 0, tzinfo=UTC), NIGHT) is None
        assert deferred_until(datetime(2025, 9, 1, 0, 0, tzinfo=UTC), NIGHT) is None  # exactly 08:00

    def test_window_that_does_not_wrap_midnight(self):
        lunch = QuietHours("12:00", "14:00", "Europe/London")
        now = datetime(2025, 1, 6, 12, 30, tzinfo=UTC)
        assert deferred_until(now, lunch) == datetime(2025, 1, 6, 14, 0, tzinfo=UTC)
        assert deferred_until(now, None) is None


class TestBackoff:
    def test_grows_exponentially_with_jitter_and_a_ceiling(self):
        assert backoff_s(1, 30, 3600, rand=lambda lo, hi: hi) == 30
        assert backoff_s(3, 30, 3600, rand=lambda lo, hi: hi) == 120
        assert backoff_s(3, 30, 3600, rand=lambda lo, hi: lo) == 60
        assert backoff_s(20, 30, 3600, rand=lambda lo, hi: hi) == 3600
        assert 60 <= backoff_s(3, 30, 3600) <= 120


class TestReminderCadence:
    def test_three_days_and_one_day_before(self):
        start = datetime(2025, 9, 10, 1, 0, tzinfo=UTC)
        due = due_times(start, datetime(2025, 9, 1, tzinfo=UTC), (3, 1))
        assert due == [
            (3, datetime(2025, 9, 7, 1, 0, tzinfo=UTC)),
            (1, datetime(2025, 9, 9, 1, 0, tzinfo=UTC)),
        ]

    def test_past_reminders_are_not_created(self):
        start = datetime(2025, 9, 10, 1, 0, tzinfo=UTC)
        assert [d for d, _ in due_times(start, datetime(2025, 9, 8, tzinfo=UTC), (3, 1))] == [1]


class TestIntents:
    def test_offer_carries_the_offer_facts_and_no_link(self):
        data = {"case_id": "c", "offer_id": "of 1", "hospital_id": "h", "slot_start": "2025-09-10T01:00:00Z",
                "slot_end": "2025-09-10T01:45:00Z", "hold_until": "2025-09-02T01:00:00Z", "kind": "intake",
                "token": "t0k", "links": {"accept": "https://a"}}  # fmt: skip
        (intent,) = intents_for("waitlist.offer_made", data)  # the link is fetched at send time
        assert intent.audience == GUARDIANS and intent.template == "offer_made"
        assert dict(intent.context) == {
            "offer_id": "of 1", "hospital_id": "h", "slot_start": "2025-09-10T01:00:00Z",
            "slot_end": "2025-09-10T01:45:00Z", "kind": "intake", "hold_until": "2025-09-02T01:00:00Z",
        }  # fmt: skip

    def test_booking_tells_guardians_and_school(self):
        data = {"case_id": "c", "appointment_id": "a", "start": "2025-09-10T01:00:00Z", "reason": "x"}
        found = intents_for("appointment.booked", data)
        assert [(i.audience, i.template) for i in found] == [
            (GUARDIANS, "appointment_booked"),
            (SCHOOL, "case_status"),
        ]
        assert found[1].context == {"status": "appointment_booked"}  # coarse (HZ-13)
        assert found[1].liaison_context == {"start": "2025-09-10T01:00:00Z"}  # only with school_liaison

    def test_repeated_no_show_alerts_the_on_call_clinician_and_the_school(self):
        data = {"case_id": "c", "hospital_id": "h1", "reason": "repeated_no_show", "no_show_count": 2}
        found = intents_for("waitlist.followup_needed", data)
        assert sorted((i.audience, i.template) for i in found) == [
            (ONCALL, "followup_review"),
            (SCHOOL, "case_status"),
        ]
        school = next(i for i in found if i.audience == SCHOOL)
        assert school.context == {"status": "followup_needed"}  # no reason, no count: no clinical detail
        assert school.needs_consent == "school_liaison"

    def test_an_escalation_alerts_one_person_through_its_task_and_is_urgent(self):
        escalated = {"case_id": "c", "reasons": ["self_harm"], "hospitals": ["h1", "h2"]}
        assert intents_for("assessment.escalated", escalated) == []  # not every preferred hospital
        data = {
            "case_id": "c",
            "task_id": "esc-1",
            "stage": "requested",
            "recipient": "dr-li",
            "hospital_id": "h1",
            "due_at": "2025-09-02T04:00:00Z",
            "reasons": ["self_harm"],
            "action": "contact_family",
        }
        (found,) = intents_for("assessment.task_alert", data)
        assert (found.audience, found.hospital_id, found.oncall_key, found.urgent) == (
            ONCALL,
            "h1",
            "dr-li",
            True,
        )
        assert "reasons" not in found.context and "action" not in found.context  # no clinical detail
        (unowned,) = intents_for("assessment.task_alert", data | {"recipient": "unowned"})
        assert unowned.oncall_key is None  # the hospital's (or the network's) on-call instead

    def test_unknown_events_cause_nothing(self):
        assert intents_for("assessment.completed", {"case_id": "c"}) == []


class TestRecipients:
    def test_only_consented_channels_are_targeted(self):
        (intent,) = intents_for("referral.submitted", {"case_id": "case-1"})
        found = targets(intent, contacts(), None)
        assert sorted((t.channel, t.masked, t.language) for t in found) == [
            ("email", "f***@example.com", "en"),
            ("email", "m***@example.com", "zh-CN"),
            ("sms", "***0001", "zh-CN"),
        ]
        assert all("@" not in t.ref and "+86" not in t.ref for t in found)

    def test_withdrawn_consent_is_honoured_at_send_time(self):
        ref = reference("sms", "+8613800000001")
        assert resolve(GUARDIANS, "sms", ref, contacts(), None).address == "+8613800000001"
        current = from_json(
            {"case_id": "case-1", "guardians": [{"relationship": "mother", "phone": "+8613800000001",
                                                  "consent": {"sms": False}}]}
        )  # fmt: skip
        assert resolve(GUARDIANS, "sms", ref, current, None) is None

    def test_school_liaison_consent_is_read_from_the_scope(self):
        def guardian(scope: list[str]) -> dict:
            return {"relationship": "mother", "consent": {"scope": scope}}

        assert from_json({"case_id": "c", "guardians": [guardian(["school_liaison"])]}).school_liaison
        assert not from_json({"case_id": "c", "guardians": [guardian(["contact_by_sms"])]}).school_liaison

    def test_on_call_falls_back_to_the_network_default(self):
        config = NotificationConfig(oncall={"default": OnCall("d@x.example")})
        assert config.oncall_for("unknown").email == "d@x.example"

    def test_masking(self):
        assert mask("email", "someone@example.com") == "s***@example.com"
        assert mask("webhook", "https://s.example/h?key=1") == "https://s.example/h"


class TestConfig:
    def test_reads_notification_keys_with_safe_defaults(self):
        settings = kafka_settings(
            "notification",
            extra={"NOTIFICATION_SMTP_PORT": "2525", "NOTIFICATION_ONCALL": '{"h": {"phone": "+1"}}'},
        )
        config = NotificationConfig.from_settings(settings)
        assert config.smtp_port == 2525 and config.email_transport == "smtp"
        assert config.oncall["h"].phone == "+1" and config.reminder_days == (3, 1)
        assert NotificationConfig.from_settings(Settings(service="notification")).email_transport == "log"

    def test_scheduling_url_defaults_to_the_local_port_and_keeps_the_old_key_as_an_alias(self):
        def url(**extra: str) -> str:
            settings = Settings(service="notification", extra=extra)
            return NotificationConfig.from_settings(settings).scheduling_url

        assert url().startswith("http://127.0.0.1:")
        assert url(NOTIFICATION_SCHEDULING_URL="http://sched:8003/") == "http://sched:8003"
        assert url(NOTIFICATION_SCHEDULING_PUBLIC_URL="http://old:8003") == "http://old:8003"
        new_and_old = {"SCHEDULING_URL": "http://new", "SCHEDULING_PUBLIC_URL": "http://old"}
        assert url(**{f"NOTIFICATION_{k}": v for k, v in new_and_old.items()}) == "http://new"
