from __future__ import annotations

import pytest

from services.scheduling import booking, calendar_ops, offers, responses
from services.scheduling.context import Conflict
from tests.support.concurrency import race
from tests.unit.scheduling.conftest import auth, emitted, triaged

pytestmark = pytest.mark.usefixtures("small")


def waiting(db, service, *cases):
    """Put families on the list while no slot is free, so nothing is offered automatically."""
    for case in cases:
        service.handlers["assessment.triaged"](triaged(case))


def accept(ctx, db, case):
    offer = db.offers.find_one({"case_id": case, "state": "pending"})
    return responses.accept(ctx, offers.token_for(ctx, offer["_id"]))


def open_slots(db, kind="intake"):
    return [s["_id"] for s in db.slots.find({"state": "open", "kind": kind}).sort("start", 1)]


class TestBooking:
    def test_two_schedulers_one_slot_exactly_one_wins(self, service, ctx, db, client):
        waiting(db, service, "c1", "c2")
        booking.withdraw_pending_offer(ctx, "c1")  # free everything: c1/c2 were offered the two slots
        booking.withdraw_pending_offer(ctx, "c2")
        for case in ("c1", "c2"):
            db.waitlist.update_one({"_id": case}, {"$set": {"state": "waiting"}})
        db.slots.update_many({}, {"$set": {"state": "open"}})
        slot_id = open_slots(db)[0]
        first = client.post("/v1/appointments", json={"case_id": "c1", "slot_id": slot_id}, headers=auth())
        second = client.post("/v1/appointments", json={"case_id": "c2", "slot_id": slot_id}, headers=auth())
        assert (first.status_code, second.status_code) == (201, 409)
        assert second.json["error"]["code"] == "conflict"

    def test_concurrent_claims_on_one_slot(self, service, ctx, db):
        calendar_ops.materialise(ctx, days=7)
        slot_id = open_slots(db, "follow_up")[0]
        wins = race(8, lambda n: booking.book(ctx, f"case-{n}", slot_id, by=f"scheduler-{n}"), Conflict)
        losses = 8 - len(wins)
        assert len(wins) == 1 and losses == 7
        assert db.appointments.count_documents({"slot_id": slot_id}) == 1
        assert db.slots.find_one({"_id": slot_id})["appointment_id"] == wins[0]["_id"]

    def test_hospital_scope_and_validation(self, service, db, client):
        waiting(db, service, "c1")
        slot_id = db.slots.find_one({"kind": "follow_up"})["_id"]
        other = client.post(
            "/v1/appointments", json={"case_id": "c1", "slot_id": slot_id}, headers=auth(hospitals=("b",))
        )
        assert other.status_code == 403
        bad = client.post(
            "/v1/appointments", json={"case_id": "c 1!", "slot_id": slot_id, "x": 1}, headers=auth()
        )
        assert bad.status_code == 422
        assert set(bad.json["error"]["fields"]) == {"case_id", "x"}
        body = {"case_id": "c1", "slot_id": slot_id}
        assert client.post("/v1/appointments", json=body, headers=auth("clinician")).status_code == 403
        assert client.post("/v1/appointments", json={}).status_code == 401

    def test_cancel_offers_the_slot_to_the_next_family_and_requeues(self, service, ctx, db, client):
        waiting(db, service, "c1", "c2", "c3")
        offer = db.offers.find_one({"case_id": "c1"})
        appt = booking.book(ctx, "c1", offer["slot_id"], by="guardian", offer_id=offer["_id"])
        response = client.post(
            f"/v1/appointments/{appt['_id']}/cancel", json={"reason": "clinician_unavailable"}, headers=auth()
        )
        assert response.status_code == 200
        assert db.offers.find_one({"case_id": "c3", "state": "pending"})["slot_id"] == offer["slot_id"]
        assert db.waitlist.find_one({"_id": "c1"})["state"] == "waiting"
        cancelled = emitted(db, "appointment.cancelled")[0]["data"]
        assert cancelled["reason"] == "clinician_unavailable" and cancelled["appointment_id"] == appt["_id"]
        again = client.post(
            f"/v1/appointments/{appt['_id']}/cancel", json={"reason": "other"}, headers=auth()
        )
        assert again.status_code == 409

    def test_reschedule_moves_the_appointment_and_frees_the_old_slot(self, service, ctx, db, client):
        calendar_ops.materialise(ctx, days=14)
        waiting(db, service, "c1")
        offer = db.offers.find_one({"case_id": "c1"})
        appt = booking.book(ctx, "c1", offer["slot_id"], by="s", offer_id=offer["_id"])
        target = open_slots(db)[-1]
        response = client.post(
            f"/v1/appointments/{appt['_id']}/reschedule", json={"slot_id": target}, headers=auth()
        )
        assert response.status_code == 200 and response.json["slot_id"] == target
        assert db.slots.find_one({"_id": offer["slot_id"]})["state"] == "open"
        moved = emitted(db, "appointment.rescheduled")[0]["data"]
        assert moved["previous_start"] == "2025-03-10T01:00:00Z" and moved["start"] != moved["previous_start"]
        taken = client.post(
            f"/v1/appointments/{appt['_id']}/reschedule", json={"slot_id": target}, headers=auth()
        )
        assert taken.status_code == 409


class TestAttendance:
    def booked_intake(self, service, ctx, db, clock):
        calendar_ops.materialise(ctx, days=42)
        waiting(db, service, "c1")
        appt = accept(ctx, db, "c1")
        clock.advance(days=7, hours=2)  # the appointment has started
        return appt

    def test_attended_intake_books_the_follow_up_series(self, service, ctx, db, clock, client):
        appt = self.booked_intake(service, ctx, db, clock)
        response = client.post(
            f"/v1/appointments/{appt['_id']}/attendance", json={"outcome": "attended"}, headers=auth()
        )
        assert response.status_code == 200
        series = response.json["follow_ups"]
        assert len(series) == 4 and all(a["kind"] == "follow_up" for a in series)
        assert [a["start"][:10] for a in series] == ["2025-03-18", "2025-03-25", "2025-04-01", "2025-04-08"]
        assert len(emitted(db, "appointment.attended")) == 1
        assert db.waitlist.find_one({"_id": "c1"})["state"] == "seen"

    def test_attendance_cannot_be_recorded_before_the_appointment(self, service, ctx, db, clock, client):
        appt = self.booked_intake(service, ctx, db, clock)
        clock.advance(days=-3)
        response = client.post(
            f"/v1/appointments/{appt['_id']}/attendance", json={"outcome": "attended"}, headers=auth()
        )
        assert response.status_code == 409

    def test_first_no_show_is_re_offered_the_second_needs_follow_up(self, service, ctx, db, clock, client):
        appt = self.booked_intake(service, ctx, db, clock)
        first = client.post(
            f"/v1/appointments/{appt['_id']}/attendance", json={"outcome": "no_show"}, headers=auth()
        )
        assert first.json["next"] == "re_offered"
        again = accept(ctx, db, "c1")
        assert again["start"] > appt["start"]
        clock.advance(days=7)
        second = client.post(
            f"/v1/appointments/{again['_id']}/attendance", json={"outcome": "no_show"}, headers=auth()
        )
        assert second.json["next"] == "followup_needed"
        assert [e["data"]["no_show_count"] for e in emitted(db, "appointment.no_show")] == [1, 2]
        needed = emitted(db, "waitlist.followup_needed")[0]["data"]
        assert needed == {
            "case_id": "c1",
            "hospital_id": "a",
            "reason": "repeated_no_show",
            "no_show_count": 2,
        }
