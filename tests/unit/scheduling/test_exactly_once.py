"""Exactly-once decisions that used to rest on conditional updates (not atomic on FerretDB)."""

from __future__ import annotations

import pytest

from services.scheduling import booking, calendar_ops, claims, offers, orphans, relapse, responses, rounds
from services.scheduling.context import Conflict
from shared.events import Event, event_type
from tests.support.concurrency import race
from tests.unit.scheduling.conftest import emitted, triaged

pytestmark = pytest.mark.usefixtures("small")


def waiting_family(service, ctx, db, case: str = "fam", slots: int = 8) -> list[dict]:
    """A waiting family and ``slots`` open intake slots it accepts (none offered on arrival)."""
    calendar_ops.materialise(ctx, days=35)
    db.slots.update_many({}, {"$set": {"state": "closed"}})
    service.handlers["assessment.triaged"](triaged(case))
    assert db.waitlist.find_one({"_id": case})["state"] == "waiting"
    ids = [s["_id"] for s in db.slots.find({"kind": "intake"}).sort("start", -1).limit(slots)]
    db.slots.update_many({"_id": {"$in": ids}}, {"$set": {"state": "open"}})
    return list(db.slots.find({"_id": {"$in": ids}}))


def pending(db, case: str = "fam") -> list[dict]:
    return list(db.offers.find({"case_id": case, "state": "pending"}))


class TestOneOfferPerRound:
    def test_eight_concurrent_offer_makers_one_family_one_offer(self, service, ctx, db):
        slots = waiting_family(service, ctx, db)
        entry = db.waitlist.find_one({"_id": "fam"})
        won = race(8, lambda k: offers.make_offer(ctx, entry, slots[k]), Conflict)
        assert len(won) == 1 and len(pending(db)) == 1
        assert db.slots.count_documents({"state": "held"}) == 1
        assert len(emitted(db, "waitlist.offer_made")) == 1
        assert db.waitlist.find_one({"_id": "fam"})["offer_id"] == won[0]["_id"]

    def test_duty_api_and_rebalance_racing_make_one_offer(self, service, ctx, db):
        slots = waiting_family(service, ctx, db, slots=6)
        entry = db.waitlist.find_one({"_id": "fam"})
        makers = [
            lambda: offers.fill_open_slots(ctx) or None,
            lambda: offers.offer_entry(ctx, "fam"),
            *[lambda s=s: offers.make_offer(ctx, entry, s, by="rebalance") for s in slots],
        ]
        race(len(makers), lambda k: makers[k](), Conflict)
        assert len(pending(db)) == 1 and db.slots.count_documents({"state": "held"}) == 1

    def test_a_lost_view_update_does_not_allow_a_second_offer(self, service, ctx, db):
        slots = waiting_family(service, ctx, db)
        first = offers.make_offer(ctx, db.waitlist.find_one({"_id": "fam"}), slots[0])
        # FerretDB can lose the entry's 'offered' write to a concurrent writer; the round still holds
        db.waitlist.update_one({"_id": "fam"}, {"$set": {"state": "waiting"}, "$unset": {"offer_id": ""}})
        assert offers.offer_entry(ctx, "fam") is None
        assert offers.offer_slot(ctx, slots[1]["_id"]) is None  # and the duty does not loop on it
        assert [o["_id"] for o in pending(db)] == [first["_id"]]
        responses.decline(ctx, offers.token_for(ctx, first["_id"]))  # answered: the next round opens
        assert len(pending(db)) == 1 and pending(db)[0]["_id"] != first["_id"]

    def test_a_round_abandoned_by_a_crashed_maker_reopens_after_the_orphan_age(self, service, ctx, db, clock):
        slots = waiting_family(service, ctx, db)
        assert rounds.take(ctx, "fam", 0, "crashed-maker")  # then the process died: no offer
        assert offers.offer_entry(ctx, "fam") is None
        clock.advance(minutes=6)
        offer = offers.make_offer(ctx, db.waitlist.find_one({"_id": "fam"}), slots[0])
        assert offer is not None and claims.owner_of(ctx, "offer:crashed-maker") == "abandoned"
        assert claims.owner_of(ctx, rounds.key("fam", 1)) == offer["_id"]


class TestOneMovePerAppointment:
    def test_eight_concurrent_reschedules_of_one_appointment_one_move(self, service, ctx, db):
        slots = waiting_family(service, ctx, db, slots=9)
        appt = booking.book(ctx, "fam", slots[0]["_id"], by="s")
        won = race(8, lambda k: booking.reschedule(ctx, appt["_id"], slots[k + 1]["_id"]), Conflict)
        # a mover that read the appointment after another's move may move it again (a later
        # move, legitimately); what must never happen is two moves from the same place
        events = [e["data"] for e in emitted(db, "appointment.rescheduled")]
        assert 1 <= len(won) == len(events)
        starts = [appt["start"].isoformat().replace("+00:00", "Z")] + [e["start"] for e in events]
        assert [e["previous_start"] for e in events] == starts[:-1]
        moved = db.appointments.find_one({"_id": appt["_id"]})
        assert moved["moves"] == len(won) and moved["start"].isoformat().replace("+00:00", "Z") == starts[-1]
        assert [s["_id"] for s in db.slots.find({"state": "booked"})] == [moved["slot_id"]]
        assert [c["owner"] for c in db.claims.find({"_id": {"$regex": "^slot:"}})] == [appt["_id"]]

    def test_a_move_that_never_landed_is_freed_and_can_be_retried(self, service, ctx, db, clock):
        slots = waiting_family(service, ctx, db, slots=3)
        appt = booking.book(ctx, "fam", slots[0]["_id"], by="s")
        booking.claim(ctx, slots[1]["_id"], "fam", appt["_id"])  # a crash after the slot and move claims
        assert claims.try_take(ctx, booking.move_key(appt["_id"], 0), slots[1]["_id"])
        with pytest.raises(Conflict):
            booking.reschedule(ctx, appt["_id"], slots[2]["_id"])
        clock.advance(minutes=6)
        assert orphans.release_orphans(ctx) == 1
        assert booking.reschedule(ctx, appt["_id"], slots[1]["_id"])["slot_id"] == slots[1]["_id"]


def relapsed(case: str = "c1", event_id: str = "relapse-1") -> Event:
    data = {"case_id": case, "weeks_below": ["2025-02-17", "2025-02-24"]}
    return Event(event_type("followup.relapse_detected"), "/services/assessment", case, data, id=event_id)


class TestRelapseExactlyOnce:
    @pytest.fixture
    def booked(self, service, ctx, db):
        service.handlers["assessment.triaged"](triaged("c1"))
        offer = db.offers.find_one({"case_id": "c1", "state": "pending"})
        responses.accept(ctx, offers.token_for(ctx, offer["_id"]))
        assert db.waitlist.find_one({"_id": "c1"})["hospital_id"] == "a"

    def extra(self, db, message: Event) -> list[dict]:
        return list(db.appointments.find({"_id": relapse.follow_up_id(message)}))

    def test_crash_after_booking_before_the_marker_then_redelivery(self, service, db, booked, monkeypatch):
        message = relapsed()

        def crash(*_args, **_kwargs):
            raise RuntimeError("process killed between booking and recording the event")

        with monkeypatch.context() as patch:
            patch.setattr(relapse.inbox, "record_applied", crash)
            with pytest.raises(RuntimeError):
                service.handlers["followup.relapse_detected"](message)
        assert len(self.extra(db, message)) == 1  # booked, but not recorded as handled
        service.handlers["followup.relapse_detected"](message)  # the broker redelivers
        service.handlers["followup.relapse_detected"](message)
        assert len(self.extra(db, message)) == 1
        assert db.appointments.count_documents({"kind": "follow_up"}) == 1
        assert message.dedupe_key in db.waitlist.find_one({"_id": "c1"})["applied_events"]
        assert emitted(db, "waitlist.followup_needed") == []

    def test_crash_while_booking_then_redelivery_still_books(self, service, db, booked, monkeypatch):
        message = relapsed()
        with monkeypatch.context() as patch:
            patch.setattr(relapse.attendance, "book_series", _raise)
            with pytest.raises(RuntimeError):
                service.handlers["followup.relapse_detected"](message)
        assert self.extra(db, message) == []
        service.handlers["followup.relapse_detected"](message)
        assert len(self.extra(db, message)) == 1  # not lost: nothing was recorded before the effect

    def test_no_free_slot_flags_once_across_redelivery(self, service, db, booked):
        db.slots.update_many({"kind": "follow_up"}, {"$set": {"state": "closed"}})
        message = relapsed()
        for _ in range(3):
            service.handlers["followup.relapse_detected"](message)
        [needed] = emitted(db, "waitlist.followup_needed")
        assert needed["data"]["reason"] == "relapse" and needed["data"]["hospital_id"] == "a"
        assert db.waitlist.find_one({"_id": "c1"})["state"] == "followup_needed"

    def test_two_relapses_book_two_follow_ups(self, service, db, booked):
        service.handlers["followup.relapse_detected"](relapsed(event_id="r1"))
        service.handlers["followup.relapse_detected"](relapsed(event_id="r2"))
        assert db.appointments.count_documents({"kind": "follow_up"}) == 2


def _raise(*_args, **_kwargs):
    raise RuntimeError("process killed while booking")
