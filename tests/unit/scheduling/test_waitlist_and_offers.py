from __future__ import annotations

from services.scheduling import offers, responses
from shared.events import Event, event_type
from tests.unit.scheduling.conftest import auth, emitted, triaged
from tests.unit.shared.staff.conftest import CHEAP, PASSWORD


def offer_of(db, case_id):
    return db.offers.find_one({"case_id": case_id, "state": "pending"})


class TestWaitlistEntries:
    def test_triage_adds_an_entry_and_offers_the_earliest_free_slot(self, service, small, db):
        service.handlers["assessment.triaged"](triaged("c1", "P2"))
        entry = db.waitlist.find_one({"_id": "c1"})
        assert entry["state"] == "offered" and entry["target_date"] == "2025-03-22"
        offer = offer_of(db, "c1")
        assert offer["slot_id"].startswith("a:school_refusal:20250310T0100Z")
        added = emitted(db, "waitlist.entry_added")[0]["data"]
        assert added == {
            "case_id": "c1",
            "band": "P2",
            "score": 50.0,
            "target_date": "2025-03-22",
            "hospitals": ["a"],
            "urgent": False,
        }
        made = emitted(db, "waitlist.offer_made")[0]["data"]
        assert made["hold_until"] == "2025-03-05T00:00:00Z" and made["kind"] == "intake"

    def test_redelivered_and_stale_triage_change_nothing(self, service, small, db):
        service.handlers["assessment.triaged"](triaged("c1", "P2", version=2))
        service.handlers["assessment.triaged"](triaged("c1", "P2", version=2))
        service.handlers["assessment.triaged"](triaged("c1", "P3", version=1))
        assert db.waitlist.find_one({"_id": "c1"})["band"] == "P2"
        assert len(emitted(db, "waitlist.entry_added")) == 1

    def test_re_triage_updates_band_and_target(self, service, small, db):
        service.handlers["assessment.triaged"](triaged("c1", "P3"))
        service.handlers["assessment.triaged"](triaged("c1", "P1", version=2))
        entry = db.waitlist.find_one({"_id": "c1"})
        assert (entry["band"], entry["target_date"], entry["triage_version"]) == ("P1", "2025-03-06", 2)

    def test_constraints_outside_the_region_leave_the_family_waiting(self, service, small, db):
        service.handlers["assessment.triaged"](
            triaged("far", constraints={"home_district": "yanqing", "max_travel_km": 10})
        )
        assert db.waitlist.find_one({"_id": "far"})["eligible_hospitals"] == []
        assert db.waitlist.find_one({"_id": "far"})["state"] == "waiting"

    def test_escalation_before_triage_makes_the_entry_urgent(self, service, small, db):
        deadline = "2025-03-04T12:00:00Z"
        escalated = Event(
            event_type("assessment.escalated"),
            "/services/assessment",
            "c9",
            {
                "case_id": "c9",
                "reasons": ["self_harm"],
                "contact_deadline": deadline,
                "contact_within_hours": 24,
                "hospitals": [],
            },
        )
        service.handlers["assessment.escalated"](escalated)
        assert db.waitlist.find_one({"_id": "c9"})["state"] == "awaiting_triage"
        service.handlers["assessment.triaged"](triaged("c9", "P3"))
        entry = db.waitlist.find_one({"_id": "c9"})
        assert entry["urgent"] and entry["target_date"] == "2025-03-04" and entry["state"] == "offered"

    def test_a_declined_slot_goes_to_the_next_family_in_fair_order(self, service, small, db):
        for n in range(2):
            service.handlers["assessment.triaged"](triaged(f"w{n}", "P3", referred_on="2025-01-01"))
        service.handlers["assessment.triaged"](triaged("late", "P3", referred_on="2025-03-01"))
        token = offers.token_for(small, offer_of(db, "w0")["_id"])
        responses.decline(small, token)
        # w0 passed on it and w1 holds the other slot, so the next in fair order is 'late'
        assert (
            offer_of(db, "late")["slot_id"]
            == db.offers.find_one({"case_id": "w0", "state": "declined"})["slot_id"]
        )

    def test_withdrawal_removes_the_entry_and_frees_its_slot(self, service, small, db):
        service.handlers["assessment.triaged"](triaged("c1"))
        service.handlers["assessment.triaged"](triaged("c2"))
        service.handlers["assessment.triaged"](triaged("c3"))
        slot_id = offer_of(db, "c1")["slot_id"]
        service.handlers["referral.withdrawn"](
            Event(
                event_type("referral.withdrawn"),
                "/services/referral",
                "c1",
                {"case_id": "c1", "reason": "moved"},
            )
        )
        assert db.waitlist.find_one({"_id": "c1"})["state"] == "removed"
        assert offer_of(db, "c3")["slot_id"] == slot_id


class TestGuardianAnswers:
    def test_accept_books_the_held_slot(self, service, small, db, client):
        service.handlers["assessment.triaged"](triaged("c1"))
        offer = offer_of(db, "c1")
        token = offers.token_for(small, offer["_id"])
        view = client.get(f"/v1/offer-responses/{token}").json
        assert view["hospital_name"] == "A" and "case_id" not in view
        response = client.post(f"/v1/offer-responses/{token}/accept")
        assert response.status_code == 200
        assert db.slots.find_one({"_id": offer["slot_id"]})["state"] == "booked"
        assert db.waitlist.find_one({"_id": "c1"})["state"] == "booked"
        assert emitted(db, "appointment.booked")[0]["data"]["kind"] == "intake"
        assert client.post(f"/v1/offer-responses/{token}/accept").status_code == 409

    def test_unknown_token_is_not_found(self, client):
        assert client.post("/v1/offer-responses/nope/accept").status_code == 404

    def test_expired_offer_moves_on_to_the_next_family(self, service, small, db, clock, client):
        for n in range(3):
            service.handlers["assessment.triaged"](triaged(f"c{n}", referred_on=f"2025-02-0{n + 1}"))
        first = offer_of(db, "c0")
        clock.advance(hours=49)
        assert responses.expire_due(small) == 2
        token = offers.token_for(small, first["_id"])
        assert client.post(f"/v1/offer-responses/{token}/accept").status_code == 409
        assert db.offers.find_one({"_id": first["_id"]})["state"] == "expired"
        assert offer_of(db, "c2") is not None  # c2 gets a freed slot
        assert offer_of(db, "c0")["slot_id"] != first["slot_id"]  # c0 is offered another one

    def test_offer_link_needs_a_service_or_scheduler_token(self, service, small, db, client):
        service.handlers["assessment.triaged"](triaged("c1"))
        offer_id = offer_of(db, "c1")["_id"]
        assert client.get(f"/v1/offers/{offer_id}/link").status_code == 401
        assert client.get(f"/v1/offers/{offer_id}/link", headers=auth("clinician")).status_code == 403
        url = client.get(f"/v1/offers/{offer_id}/link", headers=auth("service")).json["url"]
        assert url.endswith(offers.token_for(small, offer_id))

    def test_a_scheduler_gets_only_links_of_offers_at_their_own_hospitals(self, service, small, db, client):
        service.handlers["assessment.triaged"](triaged("c1"))
        offer_id = offer_of(db, "c1")["_id"]  # at hospital "a"
        elsewhere = client.get(f"/v1/offers/{offer_id}/link", headers=auth("scheduler", ("b",)))
        assert elsewhere.status_code == 403 and "url" not in elsewhere.json
        assert client.get(f"/v1/offers/{offer_id}/link", headers=auth("scheduler", ("a",))).status_code == 200


class TestPages:
    def test_scheduler_and_guardian_pages_are_served(self, client):
        stranger = client.get("/ui")
        assert stranger.status_code == 303 and stranger.headers["Location"] == "/staff/sign-in?next=/ui"
        staff = client.application.extensions["waymark_staff_auth"]
        staff.passwords = CHEAP
        staff.create_account("sched-ui", "scheduler", ["a"], password=PASSWORD)
        client.set_cookie("waymark_session", staff.sign_in("sched-ui", PASSWORD).session_id)
        page = client.get("/ui")
        assert page.status_code == 200 and b"Regional waitlist" in page.data
        assert "default-src 'self'" in page.headers["Content-Security-Policy"]
        assert b"/v1/offer-responses/" in client.get("/ui/offer/some-token").data
