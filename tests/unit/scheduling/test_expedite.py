"""HZ-09: an escalated case booked for a routine date is offered an urgent earlier intake.

Two hospitals: A (xicheng) runs intake on Thursdays, B (dongcheng) on Mondays, three
weeks materialised from Monday 3 March 2025 (Asia/Shanghai). The family is booked at A on
Thursday 20 March; the escalation's contact deadline is 5 March.
"""

from __future__ import annotations

import pytest

from services.scheduling import booking, calendar_ops, claims, expedite, offers, responses, rounds
from services.scheduling.context import Conflict
from services.scheduling.domain.geography import DISTRICT_CENTROIDS
from shared.events import Event, event_type
from tests.unit.scheduling.conftest import emitted, triaged

A_THU_6 = "a:school_refusal:20250306T0100Z"
A_THU_20 = "a:school_refusal:20250320T0100Z"
B_MON_10 = "b:school_refusal:20250310T0100Z"
B_MON_17 = "b:school_refusal:20250317T0100Z"


def escalated(case_id: str, deadline: str = "2025-03-05T04:00:00Z", event_id: str | None = None) -> Event:
    data = {
        "case_id": case_id,
        "reasons": ["instrument:phq_a_item9"],
        "contact_deadline": deadline,
        "contact_within_hours": 24,
        "hospitals": ["a"],
    }
    extra = {"id": event_id} if event_id else {}
    return Event(event_type("assessment.escalated"), "/services/assessment", case_id, data, **extra)


def hospital(ctx, hid: str, district: str, weekday: str) -> None:
    lat, lon = DISTRICT_CENTROIDS[district]
    calendar_ops.put_hospital(
        ctx,
        hid,
        {
            "name": hid.upper(),
            "district": district,
            "lat": lat,
            "lon": lon,
            "clinic_types": ["school_refusal"],
            "languages": ["zh"],
        },
    )
    calendar_ops.add_session(
        ctx,
        hid,
        {
            "weekday": weekday,
            "start": "09:00",
            "end": "10:00",
            "slot_minutes": 30,
            "kind": "intake",
            "clinic_type": "school_refusal",
        },
    )


@pytest.fixture
def region2(ctx):
    hospital(ctx, "a", "xicheng", "thu")
    hospital(ctx, "b", "dongcheng", "mon")
    calendar_ops.materialise(ctx, days=21)
    return ctx


def booked_at(service, ctx, case_id: str, slot_id: str, **triage) -> dict:
    """A family triaged P3 and booked for ``slot_id``: by accepting its offer of it, else by a scheduler."""
    service.handlers["assessment.triaged"](triaged(case_id, "P3", **triage))
    [offer] = pending(ctx.db, case_id) or [None]
    if offer and offer["slot_id"] == slot_id:
        appt = responses.accept(ctx, offers.token_for(ctx, offer["_id"]))
    else:
        appt = booking.book(ctx, case_id, slot_id, by="scheduler")
    assert ctx.db.waitlist.find_one({"_id": case_id})["state"] == "booked"
    return appt


def pending(db, case_id: str) -> list[dict]:
    return list(db.offers.find({"case_id": case_id, "state": "pending"}))


def count(outcome: str) -> float:
    return expedite.EXPEDITES.labels(outcome)._value.get()


class TestEarlierSlotOffered:
    def test_a_booked_case_escalated_gets_the_earliest_slot_region_wide_and_keeps_its_booking(
        self, service, region2, db
    ):
        appt = booked_at(service, region2, "c1", A_THU_20)
        before = count("offered")
        service.handlers["assessment.escalated"](escalated("c1"))
        [offer] = pending(db, "c1")
        assert offer["slot_id"] == A_THU_6 and offer["made_by"] == "expedite"
        assert offer["reschedules"] == appt["_id"]
        assert (offer["hold_until"] - region2.now()).total_seconds() == 12 * 3600  # the urgent hold
        # the existing booking stands until the family accepts
        assert db.appointments.find_one({"_id": appt["_id"]})["slot_id"] == A_THU_20
        assert db.slots.find_one({"_id": A_THU_20})["state"] == "booked"
        assert db.slots.find_one({"_id": A_THU_6})["state"] == "held"
        entry = db.waitlist.find_one({"_id": "c1"})
        assert entry["state"] == "booked" and entry["expedite"]["state"] == "offered"
        assert entry["expedite"]["offer_id"] == offer["_id"]
        made = [e for e in emitted(db, "waitlist.offer_made") if e["data"]["offer_id"] == offer["_id"]]
        assert len(made) == 1 and made[0]["data"]["slot_start"] == "2025-03-06T01:00:00Z"
        assert count("offered") == before + 1

    def test_the_family_constraints_decide_where_weekday_limits_send_it_to_another_hospital(
        self, service, region2, db
    ):
        booked_at(
            service, region2, "c1", B_MON_17, constraints={"home_district": "xicheng", "weekdays": ["mon"]}
        )
        service.handlers["assessment.escalated"](escalated("c1"))
        [offer] = pending(db, "c1")
        assert offer["slot_id"] == B_MON_10

    def test_hospitals_the_family_did_not_accept_are_never_offered(self, service, region2, db):
        booked_at(
            service, region2, "c1", B_MON_17, constraints={"home_district": "xicheng", "hospitals": ["b"]}
        )
        service.handlers["assessment.escalated"](escalated("c1"))
        [offer] = pending(db, "c1")
        assert offer["slot_id"] == B_MON_10

    def test_a_booking_within_the_target_is_left_alone(self, service, region2, db):
        booked_at(service, region2, "c1", B_MON_10)
        before = count("within_target")
        service.handlers["assessment.escalated"](escalated("c1", deadline="2025-03-12T04:00:00Z"))
        assert pending(db, "c1") == [] and count("within_target") == before + 1

    def test_a_waiting_case_is_left_to_the_ordinary_urgent_offer(self, service, region2, db):
        service.handlers["assessment.triaged"](triaged("w1", "P3"))
        service.handlers["assessment.escalated"](escalated("w1"))
        [offer] = pending(db, "w1")
        assert offer["made_by"] == "auto" and "reschedules" not in offer


class TestAnswers:
    def test_accepting_moves_the_booking_and_only_then_frees_the_old_slot(self, service, region2, db, client):
        appt = booked_at(service, region2, "c1", A_THU_20)
        service.handlers["assessment.escalated"](escalated("c1"))
        [offer] = pending(db, "c1")
        response = client.post(f"/v1/offer-responses/{offers.token_for(region2, offer['_id'])}/accept")
        assert response.status_code == 200
        moved = db.appointments.find_one({"_id": appt["_id"]})
        assert moved["slot_id"] == A_THU_6 and moved["state"] == "booked" and moved["moves"] == 1
        assert db.appointments.count_documents({"case_id": "c1"}) == 1  # moved, not double-booked
        assert db.slots.find_one({"_id": A_THU_6})["appointment_id"] == appt["_id"]
        assert db.slots.find_one({"_id": A_THU_20})["state"] == "open"
        assert claims.owner_of(region2, f"slot:{A_THU_6}") == appt["_id"]
        assert claims.owner_of(region2, f"slot:{A_THU_20}") is None
        [rescheduled] = emitted(db, "appointment.rescheduled")
        assert rescheduled["data"]["start"] == "2025-03-06T01:00:00Z"
        assert rescheduled["data"]["previous_start"] == "2025-03-20T01:00:00Z"
        entry = db.waitlist.find_one({"_id": "c1"})
        assert entry["state"] == "booked" and entry["expedite"]["state"] == "moved"
        assert db.offers.find_one({"_id": offer["_id"]})["appointment_id"] == appt["_id"]

    def test_declining_keeps_the_booking_and_frees_the_earlier_slot(self, service, region2, db):
        appt = booked_at(service, region2, "c1", A_THU_20)
        service.handlers["assessment.escalated"](escalated("c1"))
        [offer] = pending(db, "c1")
        responses.decline(region2, offers.token_for(region2, offer["_id"]))
        assert db.appointments.find_one({"_id": appt["_id"]})["slot_id"] == A_THU_20
        assert db.slots.find_one({"_id": A_THU_20})["state"] == "booked"
        assert db.slots.find_one({"_id": A_THU_6})["state"] == "open"
        assert db.waitlist.find_one({"_id": "c1"})["state"] == "booked"
        assert pending(db, "c1") == []  # no new offer: the family is booked

    def test_an_expired_offer_keeps_the_booking(self, service, region2, db, clock):
        appt = booked_at(service, region2, "c1", A_THU_20)
        service.handlers["assessment.escalated"](escalated("c1"))
        clock.advance(hours=13)
        assert responses.expire_due(region2) == 1
        assert db.appointments.find_one({"_id": appt["_id"]})["state"] == "booked"
        assert db.slots.find_one({"_id": A_THU_20})["state"] == "booked"
        assert db.waitlist.find_one({"_id": "c1"})["state"] == "booked"

    def test_accepting_after_the_booking_was_cancelled_refuses_and_frees_the_slot(self, service, region2, db):
        appt = booked_at(service, region2, "c1", A_THU_20)
        service.handlers["assessment.escalated"](escalated("c1"))
        [offer] = pending(db, "c1")
        booking.cancel(region2, appt["_id"], "family_request", requeue=False)
        with pytest.raises(Conflict):
            responses.accept(region2, offers.token_for(region2, offer["_id"]))
        assert db.slots.find_one({"_id": A_THU_6})["state"] == "open"
        assert claims.owner_of(region2, f"slot:{A_THU_6}") is None


class TestExactlyOnce:
    def test_a_redelivered_escalation_makes_no_second_offer(self, service, region2, db):
        booked_at(service, region2, "c1", A_THU_20)
        event = escalated("c1")
        service.handlers["assessment.escalated"](event)
        [offer] = pending(db, "c1")
        responses.decline(region2, offers.token_for(region2, offer["_id"]))
        service.handlers["assessment.escalated"](event)  # redelivered after the family declined
        assert pending(db, "c1") == []
        assert db.offers.count_documents({"case_id": "c1", "made_by": "expedite"}) == 1

    def test_a_second_worker_that_read_before_the_first_claimed_does_nothing(
        self, service, region2, db, monkeypatch
    ):
        booked_at(service, region2, "c1", A_THU_20)
        event = escalated("c1")
        service.handlers["assessment.escalated"](event)
        monkeypatch.setattr(claims, "owner_of", lambda ctx, key: None)  # its read raced the first claim
        before = count("duplicate")
        service.handlers["assessment.escalated"](event)
        assert len(pending(db, "c1")) == 1 and count("duplicate") == before + 1

    def test_a_new_escalation_while_the_offer_is_open_makes_no_second_offer(self, service, region2, db):
        booked_at(service, region2, "c1", A_THU_20)
        service.handlers["assessment.escalated"](escalated("c1", event_id="e1"))
        service.handlers["assessment.escalated"](escalated("c1", event_id="e2"))
        assert len(pending(db, "c1")) == 1

    def test_an_offer_being_made_by_a_concurrent_escalation_is_not_a_page(self, service, region2, db):
        booked_at(service, region2, "c1", A_THU_20)
        # a concurrent escalation's maker has taken the family's next round, its offer not yet written
        assert rounds.take(region2, "c1", rounds.next_round(region2, "c1"), "their-offer")
        paged, busy = count("no_slot"), count("round_busy")
        service.handlers["assessment.escalated"](escalated("c1"))
        assert pending(db, "c1") == [] and db.slots.find_one({"_id": A_THU_6})["state"] == "open"
        assert (count("no_slot"), count("round_busy")) == (paged, busy + 1)


class TestNoEarlierSlot:
    def test_no_slot_is_a_signal_for_a_human_and_the_booking_stands(self, service, region2, db, caplog):
        for n, when in enumerate(["20250306T0100Z", "20250306T0130Z", "20250313T0100Z", "20250313T0130Z"]):
            booking.book(region2, f"other{n}", f"a:school_refusal:{when}", by="scheduler")
        appt = booked_at(service, region2, "c1", A_THU_20, constraints={"hospitals": ["a"]})
        before = count("no_slot")
        service.handlers["assessment.escalated"](escalated("c1"))
        assert pending(db, "c1") == []
        assert count("no_slot") == before + 1
        assert db.waitlist.find_one({"_id": "c1"})["expedite"]["state"] == "no_slot"
        assert "no earlier intake slot" in caplog.text and "c1" in caplog.text
        assert db.appointments.find_one({"_id": appt["_id"]})["state"] == "booked"
        # a failed attempt leaves the family's offer rounds free
        service.handlers["assessment.escalated"](escalated("c1", event_id="again"))
        assert count("no_slot") == before + 2
