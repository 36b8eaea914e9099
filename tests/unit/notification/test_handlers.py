from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from marshmallow import ValidationError
from pymongo.errors import AutoReconnect

from services.notification.channels.base import DeliveryError, RecordingChannel
from services.notification.domain.intents import intents_for
from services.notification.reminders import run_due
from shared import housekeeping
from shared.consumer import ConsumerLoop
from shared.contracts.notification import NotificationFailed, NotificationSent
from shared.events import Event, to_kafka
from shared.inbox import Inbox
from shared.memory_bus import MemoryBus
from shared.settings import ConsumerPolicy

from .conftest import ANSWER_URL, CASE, EVERY_SCOPE, INVITATION, OFFER, booked, contacts, event, offer_made


def states(h) -> dict[tuple[str, str], str]:
    return {
        (d["template"], d["channel"]): d["state"] for d in h.db.deliveries.find({"template": {"$ne": "x"}})
    }


class TestGuardianMessages:
    def test_referral_received_goes_to_consenting_guardians_in_their_language(self, harness):
        harness.handle(event("referral.submitted", age_band="9-11"))
        assert sorted(m.to for m in harness.email.sent) == ["father@example.com", "mother@example.com"]
        assert [m.to for m in harness.sms.sent] == ["+8613800000001"]  # the father gave no SMS consent
        by_to = {m.to: m for m in harness.email.sent}
        assert by_to["mother@example.com"].subject == "我们已收到转介"
        assert by_to["father@example.com"].subject == "We have received a referral"

    def test_redelivered_event_sends_no_second_message(self, harness):
        e = event("referral.submitted")
        harness.handle(e)
        harness.handle(e)  # as if the consumer crashed before committing
        assert len(harness.email.sent) == 2 and len(harness.sms.sent) == 1
        assert harness.db.deliveries.count_documents({}) == 3

    def test_redelivery_through_the_consumer_loop_sends_once(self, harness):
        bus = MemoryBus()
        service = harness.service
        subscription = service.subscription()
        source = bus.source(subscription.group, subscription.topics)
        policy = ConsumerPolicy(max_attempts=2, backoff_initial_s=0.001, backoff_max_s=0.001)
        loop = ConsumerLoop(
            "notification", subscription, source, bus, Inbox(service.db), policy, lambda s: None
        )
        e = booked()
        for _ in range(2):
            bus.send("waymark.scheduling.events", *to_kafka(e))
        for record in source.poll(0.01):
            assert loop.process(record)
        assert len(harness.email.sent) == 2 and len(harness.webhook.sent) == 1

    def test_quiet_hours_defer_until_morning(self, harness, clock):
        clock.now = datetime(2025, 9, 1, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai: the mother's quiet hours
        harness.handle(event("referral.submitted"))
        assert [m.to for m in harness.email.sent] == ["father@example.com"]  # no quiet hours set
        deferred = harness.db.deliveries.find_one({"channel": "sms"})
        assert deferred["state"] == "pending"
        assert deferred["next_attempt_at"] == datetime(2025, 9, 2, 0, 0, tzinfo=UTC)
        clock.now = datetime(2025, 9, 1, 23, 59, tzinfo=UTC)
        run_due(harness.db, clock, harness.service_sender())
        assert harness.sms.sent == []
        clock.now = datetime(2025, 9, 2, 0, 0, tzinfo=UTC)
        run_due(harness.db, clock, harness.service_sender())
        assert [m.to for m in harness.sms.sent] == ["+8613800000001"]
        assert len(harness.email.sent) == 2

    def test_withdrawn_consent_before_a_deferred_send_is_honoured(self, harness, clock):
        clock.now = datetime(2025, 9, 1, 14, 0, tzinfo=UTC)
        harness.handle(event("referral.submitted"))
        harness.directory.cases[CASE] = harness.directory.cases[CASE].__class__(CASE, ())
        clock.now = datetime(2025, 9, 2, 0, 0, tzinfo=UTC)
        run_due(harness.db, clock, harness.service_sender())
        assert harness.sms.sent == []
        assert harness.db.deliveries.find_one({"channel": "sms"})["state"] == "withdrawn"

    def test_invalid_payload_is_rejected_for_the_dead_letter_topic(self, harness):
        with pytest.raises(ValidationError):
            harness.handle(event("appointment.booked", start="not a time"))


class TestOnCallAndSchools:
    def test_escalation_reaches_on_call_at_once_even_at_night(self, harness, clock):
        clock.now = datetime(2025, 9, 1, 16, 0, tzinfo=UTC)  # midnight in Shanghai
        harness.handle(
            event("assessment.task_alert", task_id="esc-1", stage="requested", tier="owner",
                  recipient="unowned", hospital_id="hosp-a", kind="escalation_contact",
                  due_at="2025-09-02T04:00:00Z", action="contact_family")
        )  # fmt: skip
        assert [m.to for m in harness.email.sent] == ["oncall-a@hospital.example"]
        assert [m.to for m in harness.sms.sent] == ["+8613900000001"]
        assert "self" not in harness.email.sent[0].body.lower()
        assert harness.email.sent[0].subject.startswith("URGENT")

    def test_an_alert_with_nobody_to_reach_is_counted_not_silent(self, harness):
        from services.notification import metrics

        before = metrics.ONCALL_UNREACHABLE.labels("task_alert")._value.get()
        harness.service.handlers["assessment.task_alert"].__self__.sender.config = replace(
            harness.service.handlers["assessment.task_alert"].__self__.sender.config, oncall={}
        )
        harness.handle(
            event("assessment.task_alert", task_id="esc-9", stage="requested", tier="owner",
                  recipient="dr-nobody", hospital_id="hosp-z", kind="escalation_contact",
                  due_at="2025-09-02T04:00:00Z", action="contact_family")
        )  # fmt: skip
        assert harness.email.sent == []
        assert metrics.ONCALL_UNREACHABLE.labels("task_alert")._value.get() == before + 1

    def test_a_breach_reaches_the_named_second_line(self, harness):
        harness.handle(
            event("assessment.task_alert", task_id="esc-1", stage="breach", tier="second_line",
                  recipient="dr-second", hospital_id="hosp-a", kind="escalation_contact",
                  due_at="2025-09-02T04:00:00Z", action="contact_family")
        )  # fmt: skip
        assert [m.to for m in harness.email.sent] == ["second@hospital.example"]
        assert harness.email.sent[0].subject.startswith("BREACH")

    @pytest.mark.parametrize("liaison", [False, True])
    def test_a_missed_appointment_reaches_the_school_only_with_school_liaison_consent(self, harness, liaison):
        from dataclasses import replace

        from .conftest import CASE, contacts

        base = contacts()
        keep = lambda g: g.scopes if liaison else g.scopes - {"school_liaison"}  # noqa: E731
        guardians = tuple(replace(g, scopes=keep(g)) for g in base.guardians)
        harness.directory.cases[CASE] = replace(base, guardians=guardians)
        harness.handle(
            event("appointment.no_show", appointment_id="a-1", hospital_id="hosp-a", kind="intake",
                  start="2025-09-10T01:00:00Z", end="2025-09-10T02:00:00Z", no_show_count=1)
        )  # fmt: skip
        statuses = [json.loads(h.body)["status"] for h in harness.webhook.sent]
        assert statuses == (["no_show"] if liaison else [])  # HZ-10: only what consent allows

    def test_school_gets_a_status_webhook_without_personal_data(self, harness):
        harness.handle(event("waitlist.entry_added", band="P1", score=80, urgent=True))
        (hook,) = harness.webhook.sent
        assert hook.to == "https://school.example/hooks" and hook.secret == "school-secret-123"
        payload = json.loads(hook.body)
        assert (
            payload["status"] == "accepted"
            and payload["case_id"] == CASE
            and payload["school_id"] == "school-9"
        )
        assert "band" not in payload and "urgent" not in payload and "score" not in payload

    def test_capacity_alert_only_when_critical(self, harness):
        harness.handle(
            event("waitlist.pressure_changed", subject="hosp-a", hospital_id="hosp-a", level="high")
        )
        assert harness.email.sent == []
        harness.handle(
            event("waitlist.pressure_changed", subject="hosp-a", hospital_id="hosp-a", level="critical")
        )
        assert [m.to for m in harness.email.sent] == ["oncall-a@hospital.example"]


def without(scope: str) -> frozenset[str]:
    return EVERY_SCOPE - {scope}


class TestHz13ConsentAndDisclosure:
    """The school sees coarse statuses only; liaison detail and questionnaires need their consent."""

    def test_a_re_triage_never_reaches_the_school(self, harness):
        """The hazard: a band change after a child's questionnaire was sent to the school as 'triaged'."""
        harness.handle(event("assessment.triaged", band="P1", score=80, triage_version=2))
        assert harness.webhook.sent == []

    @pytest.mark.parametrize(
        ("e", "status"),
        [
            (event("waitlist.entry_added", band="P3"), "accepted"),
            (booked(), "appointment_booked"),
            (booked("appointment.attended"), "attended"),
        ],
    )
    def test_only_coarse_statuses_go_to_the_school(self, harness, e, status):
        harness.directory.cases[CASE] = contacts(scopes=without("school_liaison"))
        harness.handle(e)
        (hook,) = harness.webhook.sent
        payload = json.loads(hook.body)
        assert payload["status"] == status
        assert "start" not in payload  # the appointment's time is liaison detail

    def test_with_school_liaison_the_school_also_hears_the_time_and_a_no_show(self, harness):
        harness.handle(booked())
        harness.handle(booked("appointment.no_show"))
        statuses = [json.loads(h.body) for h in harness.webhook.sent]
        assert [(p["status"], p.get("start")) for p in statuses] == [
            ("appointment_booked", "2025-09-10T01:00:00Z"),
            ("no_show", "2025-09-10T01:00:00Z"),
        ]

    @pytest.mark.parametrize(
        "e",
        [
            booked("appointment.no_show"),
            booked("appointment.rescheduled", previous_start="2025-09-09T01:00:00Z"),
            event(
                "waitlist.followup_needed", hospital_id="hosp-a", reason="repeated_no_show", no_show_count=2
            ),
        ],
    )
    def test_without_school_liaison_no_no_show_or_follow_up_message_reaches_the_school(self, harness, e):
        harness.directory.cases[CASE] = contacts(scopes=without("school_liaison"))
        harness.handle(e)
        assert harness.webhook.sent == []
        assert harness.db.deliveries.count_documents({"channel": "webhook"}) == 0

    def test_consent_withdrawn_before_the_send_stops_a_liaison_message(self, harness, clock):
        harness.webhook.failures = [DeliveryError("http 503")]
        harness.handle(booked("appointment.no_show"))
        harness.directory.cases[CASE] = contacts(scopes=without("school_liaison"))
        clock.advance(hours=2)
        run_due(harness.db, clock, harness.service_sender())
        assert harness.webhook.sent == []

    def test_a_questionnaire_goes_only_to_the_guardian_who_agreed_to_questionnaires(self, harness):
        harness.directory.cases[CASE] = contacts(father_scopes=without("questionnaires"))
        harness.handle(event("assessment.questionnaire_requested", invitation_id=INVITATION,
                             due_by="2025-09-10T01:00:00Z", instruments=["sdq"]))  # fmt: skip
        assert sorted(m.to for m in harness.email.sent) == ["mother@example.com"]

    def test_no_questionnaire_message_without_questionnaires_consent(self, harness):
        harness.directory.cases[CASE] = contacts(
            scopes=without("questionnaires"), father_scopes=without("questionnaires")
        )
        harness.handle(event("assessment.questionnaire_requested", invitation_id=INVITATION,
                             due_by="2025-09-10T01:00:00Z", instruments=["sdq"]))  # fmt: skip
        assert harness.email.sent == [] and harness.sms.sent == []


class TestOutcomes:
    def test_sent_emits_notification_sent_through_the_outbox(self, harness):
        harness.handle(event("referral.submitted"))
        events = [Event.from_dict(e) for e in harness.outbox()]
        assert {e.name for e in events} == {"notification.sent"}
        for e in events:
            NotificationSent().load(dict(e.data))
            assert e.subject == CASE
        pending = {i for d in harness.db.outbox_pending.find() for i in d["events"]}
        assert pending == {e.id for e in events}  # intents written first, awaiting a publisher

    def test_retries_with_backoff_then_dead_letter_then_replay(self, harness, clock):
        failure = DeliveryError("http 503")
        harness.webhook.failures = [failure, failure, failure]
        harness.handle(event("waitlist.entry_added", band="P2"))
        doc = harness.db.deliveries.find_one({"channel": "webhook"})
        assert doc["state"] == "retrying" and doc["attempts"] == 1
        wait = (doc["next_attempt_at"] - clock.now).total_seconds()
        assert 30 <= wait <= 60  # base 60 s, jittered into [base/2, base]
        for _ in range(2):
            clock.advance(hours=2)
            run_due(harness.db, clock, harness.service_sender())
        doc = harness.db.deliveries.find_one({"channel": "webhook"})
        assert doc["state"] == "dead" and doc["attempts"] == 3 and len(doc["history"]) == 3
        failed = [Event.from_dict(e) for e in doc["outbox"] if e["type"].endswith("failed.v1")]
        assert NotificationFailed().load(dict(failed[0].data))["reason"] == "http 503"

        client = harness.service.app.test_client()
        assert client.get("/v1/deliveries?status=dead").status_code == 401
        listed = client.get("/v1/deliveries?status=dead", headers=harness.operator()).get_json()
        assert [d["id"] for d in listed["items"]] == [doc["_id"]]
        assert "school.example/hooks" in listed["items"][0]["recipient"]
        replayed = client.post(f"/v1/deliveries/{doc['_id']}/replay", headers=harness.operator())
        assert replayed.status_code == 200 and replayed.get_json()["state"] == "sent"
        assert len(harness.webhook.sent) == 1
        again = client.post(f"/v1/deliveries/{doc['_id']}/replay", headers=harness.operator())
        assert again.status_code == 409

    def test_permanent_failure_is_dead_at_once(self, harness):
        harness.sms.failures = [DeliveryError("not a phone number", permanent=True)]
        harness.handle(event("referral.submitted"))
        assert harness.db.deliveries.find_one({"channel": "sms"})["state"] == "dead"

    def test_deliveries_api_needs_the_operator_role(self, harness):
        from shared.auth import StaffTokens

        token = StaffTokens(harness.service.settings.staff_token_secret).issue("s", "scheduler")
        client = harness.service.app.test_client()
        assert client.get("/v1/deliveries", headers={"Authorization": f"Bearer {token}"}).status_code == 403
        assert client.get("/v1/deliveries?status=nope", headers=harness.operator()).status_code == 422
        assert client.get("/v1/deliveries/missing", headers=harness.operator()).status_code == 404

    def test_counter_counts_by_channel_and_result(self, harness):
        from services.notification.metrics import NOTIFICATIONS

        before = NOTIFICATIONS.labels("sms", "sent")._value.get()
        harness.handle(event("referral.submitted"))
        assert NOTIFICATIONS.labels("sms", "sent")._value.get() == before + 1
        assert b"waymark_notifications_total" in harness.service.app.test_client().get("/metrics").data


class TestOfferAnswerLink:
    """The answer link carries the offer's secret token: fetched from scheduling per send, never kept."""

    def test_offer_messages_carry_the_link_scheduling_gives(self, harness):
        harness.handle(offer_made())
        body = next(m.body for m in harness.email.sent if m.to == "father@example.com")
        assert OFFER in body and f"Accept or decline: {ANSWER_URL}" in body
        assert f"接受或拒绝：{ANSWER_URL}" in harness.sms.sent[0].body  # the mother reads zh-CN
        assert len(harness.email.sent) == 2 and harness.offer_links.asked == [OFFER] * 3

    def test_the_link_is_never_stored_in_the_delivery_or_its_events(self, harness):
        harness.handle(offer_made(token="bus-token", links={"accept": "https://bus.example/a"}))
        docs = list(harness.db.deliveries.find({"template": "offer_made"}))
        assert len(docs) == 3 and {d["state"] for d in docs} == {"sent"}
        stored = repr(docs) + repr(harness.outbox())
        for secret in (ANSWER_URL, "s3cr3t-t0ken", "/ui/offer", "bus-token", "bus.example"):
            assert secret not in stored
        assert "answer_url" not in docs[0]["context"] and docs[0]["context"]["offer_id"] == OFFER

    def test_the_link_is_fetched_only_when_a_message_goes_out(self, harness, clock):
        clock.now = datetime(2025, 9, 1, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai: the mother's quiet hours
        harness.handle(offer_made())
        assert harness.offer_links.asked == [OFFER]  # the father's email; the mother's two are deferred
        clock.now = datetime(2025, 9, 2, 0, 0, tzinfo=UTC)
        run_due(harness.db, clock, harness.service_sender())
        assert harness.offer_links.asked == [OFFER] * 3 and ANSWER_URL in harness.sms.sent[0].body

    def test_scheduling_unavailable_is_retried(self, harness, clock):
        harness.offer_links.unavailable = True
        harness.handle(offer_made())  # the event itself is handled: nothing for the consumer to retry
        docs = list(harness.db.deliveries.find({"template": "offer_made"}))
        assert {d["state"] for d in docs} == {"retrying"} and harness.email.sent == harness.sms.sent == []
        assert docs[0]["last_error"] == "memory offer links switched off"
        harness.offer_links.unavailable = False
        clock.advance(minutes=5)
        run_due(harness.db, clock, harness.service_sender())
        assert {d["state"] for d in harness.db.deliveries.find({"template": "offer_made"})} == {"sent"}
        assert len(harness.email.sent) == 2 and ANSWER_URL in harness.email.sent[0].body

    def test_an_offer_scheduling_does_not_know_is_withdrawn(self, harness):
        harness.handle(offer_made("offer-gone"))
        docs = list(harness.db.deliveries.find({"template": "offer_made"}))
        assert [(d["state"], d["last_error"]) for d in docs] == [("withdrawn", "offer_gone")] * 3
        assert harness.email.sent == harness.sms.sent == [] and harness.outbox() == []


class TestDirectoryOutage:
    def test_event_is_retried_by_the_consumer_when_contacts_are_unavailable(self, harness):
        from services.notification.directory import DirectoryUnavailable

        harness.directory.unavailable = True
        with pytest.raises(DirectoryUnavailable):
            harness.handle(event("referral.submitted"))
        assert harness.email.sent == []

    def test_outage_at_send_time_becomes_a_retry(self, harness, clock):
        clock.now = datetime(2025, 9, 1, 14, 0, tzinfo=UTC)
        harness.handle(event("referral.submitted"))
        harness.directory.unavailable = True
        clock.now = datetime(2025, 9, 2, 0, 0, tzinfo=UTC)
        run_due(harness.db, clock, harness.service_sender())
        assert harness.db.deliveries.find_one({"channel": "sms"})["state"] == "retrying"

    def test_embedded_default_retries_when_referral_is_down_and_invents_no_contacts(self, clock):
        import mongomock

        from services.notification.bootstrap import build
        from shared.consumer import TRANSIENT_ERRORS

        from .conftest import settings

        sms = RecordingChannel()
        service = build(
            settings(NOTIFICATION_REFERRAL_URL="http://127.0.0.1:9", NOTIFICATION_HTTP_TIMEOUT_S="1"),
            db=mongomock.MongoClient(tz_aware=True)["n"], clock=clock,
            channels={"email": RecordingChannel(), "sms": sms, "webhook": RecordingChannel()},
        )  # fmt: skip
        with pytest.raises(TRANSIENT_ERRORS):  # the consumer loop retries it until referral answers
            service.handlers["referral.submitted"](event("referral.submitted", subject="case-demo"))
        assert sms.sent == []


class TestFollowUp:
    def test_follow_up_needed_tells_the_hospital_team_by_email_only(self, harness):
        harness.handle(event("waitlist.followup_needed", hospital_id="hosp-a", reason="repeated_no_show",
                             no_show_count=2))  # fmt: skip
        assert [m.to for m in harness.email.sent] == ["oncall-a@hospital.example"]
        assert "no_show" not in harness.email.sent[0].body and harness.sms.sent == []


class TestClaims:
    def test_a_claim_abandoned_by_a_dead_worker_is_skipped_after_the_lease(self, harness, clock):
        clock.now = datetime(2025, 9, 1, 14, 0, tzinfo=UTC)  # the mother's SMS waits for the morning
        harness.handle(event("referral.submitted"))
        doc = harness.db.deliveries.find_one({"channel": "sms"})
        harness.db.delivery_claims.insert_one({"_id": f"{doc['_id']}:{doc['seq']}", "at": clock.now})
        clock.now = datetime(2025, 9, 2, 0, 0, tzinfo=UTC)
        run_due(harness.db, clock, harness.service_sender())  # claimed "by someone else" long ago: skip it
        run_due(harness.db, clock, harness.service_sender())
        assert [m.to for m in harness.sms.sent] == ["+8613800000001"]

    def test_a_live_claim_is_respected(self, harness, clock):
        clock.now = datetime(2025, 9, 1, 14, 0, tzinfo=UTC)
        harness.handle(event("referral.submitted"))
        clock.now = datetime(2025, 9, 2, 0, 0, tzinfo=UTC)
        doc = harness.db.deliveries.find_one({"channel": "sms"})
        harness.db.delivery_claims.insert_one({"_id": f"{doc['_id']}:{doc['seq']}", "at": clock.now})
        run_due(harness.db, clock, harness.service_sender())
        assert harness.sms.sent == []

    def test_spent_claims_are_pruned_after_14_days_by_the_workers_housekeeping(self, harness, clock):
        harness.email.failures = [DeliveryError("smtp 451")]  # a retry: later attempts take claims
        harness.handle(event("referral.submitted"))
        clock.advance(hours=1)
        run_due(harness.db, clock, harness.service_sender())
        spent = harness.db.delivery_claims.count_documents({})
        assert spent > 0
        clock.advance(days=13)
        assert housekeeping.prune(harness.db, clock(), extra=harness.service.retained)["delivery_claims"] == 0
        clock.advance(days=1, seconds=1)
        removed = housekeeping.prune(harness.db, clock(), extra=harness.service.retained)
        assert removed["delivery_claims"] == spent and harness.db.delivery_claims.count_documents({}) == 0


def test_one_event_reads_the_case_contacts_once_and_a_retry_reads_them_afresh(harness, clock):
    """A booking plans a guardian email, an SMS and a school webhook and attempts each at once."""
    reads: list[str] = []
    directory = harness.directory
    original = directory.contacts
    directory.contacts = lambda case_id: (reads.append(case_id), original(case_id))[1]  # type: ignore[method-assign]
    harness.webhook.failures = [DeliveryError("http 503")]
    harness.handle(booked())
    assert len(harness.email.sent) == 2 and harness.webhook.sent == []
    assert reads == [CASE]
    clock.advance(hours=2)
    run_due(harness.db, clock, harness.service_sender())
    assert len(harness.webhook.sent) == 1
    assert reads == [CASE, CASE]  # the retry asked referral again (consent may have changed)


def test_a_new_delivery_is_attempted_without_reading_it_back(harness):
    log = harness.service_sender().log
    reads: list[object] = []
    find_one = log.col.find_one
    log.col.find_one = lambda *a, **k: (reads.append(a), find_one(*a, **k))[1]
    harness.handle(event("referral.submitted"))
    assert len(harness.email.sent) == 2 and len(harness.sms.sent) == 1
    assert reads == []
    harness.handle(event("referral.submitted"))  # another event: its own deliveries, also unread
    assert reads == [] and len(harness.email.sent) == 4


def test_the_handler_inserts_each_delivery_claimed_for_its_first_attempt(harness):
    """No claim document and no claim update for a first attempt: the unique insert was the claim."""
    harness.handle(event("referral.submitted"))
    assert len(harness.email.sent) == 2 and len(harness.sms.sent) == 1
    assert harness.db.delivery_claims.count_documents({}) == 0
    assert {d["state"] for d in harness.db.deliveries.find({})} == {"sent"}
    harness.handle(event("referral.submitted"))  # another event sends again; a redelivery would not
    assert len(harness.email.sent) == 4


def test_a_creator_that_died_mid_attempt_is_retried_after_its_lease(harness, clock):
    sender = harness.service_sender()
    sender.plan(  # what the handler does before it attempts: then the process dies
        next(iter(intents_for("referral.submitted", {"case_id": CASE}))), "origin-1", "corr", "t", {}, {}
    )
    assert {d["state"] for d in harness.db.deliveries.find({})} == {"sending"}
    run_due(harness.db, clock, sender)
    assert harness.email.sent == []  # its lease still runs
    clock.advance(seconds=harness.service_sender().config.lease_s + 1)
    run_due(harness.db, clock, sender)
    run_due(harness.db, clock, sender)
    assert len(harness.email.sent) == 2


class TestReferralReview:
    def test_a_review_decision_reaches_the_school_as_codes(self, harness):
        harness.handle(
            event(
                "assessment.review_decided",
                hospital_id="h-east",
                round=1,
                outcome="returned",
                decided_at="2025-03-11T09:00:00Z",
                information_needed=["attendance_record"],
            )
        )
        (hook,) = harness.webhook.sent
        payload = json.loads(hook.body)
        assert payload["status"] == "information_requested"
        assert payload["information_needed"] == ["attendance_record"]
        assert "note" not in payload


def test_messages_a_failed_handling_never_attempted_are_due_at_once_not_after_the_lease(harness):
    """A new message is inserted already claimed for its first attempt; if the handling fails
    before attempting it, the retry must be able to send it (not wait out a 120 s lease)."""
    sender = harness.service_sender()
    attempt = sender.attempt
    calls = {"n": 0}

    def store_fails_on_the_first(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise AutoReconnect("store unreachable")
        return attempt(*args, **kwargs)

    sender.attempt = store_fails_on_the_first
    submitted = event("referral.submitted")
    with pytest.raises(AutoReconnect):
        harness.handle(submitted)  # the consumer loop will retry it
    states = sorted((d["state"], d["seq"]) for d in harness.db.deliveries.find())
    assert states == [("retrying", 1), ("retrying", 1), ("sending", 0)]  # the one in hand keeps its lease
    harness.handle(submitted)
    assert len(harness.email.sent) + len(harness.sms.sent) == 2
