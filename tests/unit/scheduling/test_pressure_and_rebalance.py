from __future__ import annotations

from prometheus_client import REGISTRY

from services.scheduling import booking, duties, pressure_ops
from services.scheduling.config import Config
from services.scheduling.seed import seed_region
from tests.unit.scheduling.conftest import auth, emitted, triaged


def queue(service, count, band="P1", district="xicheng", **constraints):
    for n in range(count):
        service.handlers["assessment.triaged"](
            triaged(
                f"{band}-{district}-{n}",
                band,
                referred_on="2025-02-25",
                constraints={"home_district": district, **constraints},
            )
        )


class TestPressure:
    def test_crossing_a_threshold_emits_pressure_changed_once(self, service, ctx, db, small):
        assert pressure_ops.publish_changes(ctx) == 0
        queue(service, 12, "P1")
        changes = pressure_ops.publish_changes(ctx)
        changed = {e["data"]["band"]: e for e in emitted(db, "waitlist.pressure_changed")}
        assert (
            changes == len(changed) >= 1 and changed["P1"]["subject"] == "a"
        )  # lower bands wait behind P1 too
        data = changed["P1"]["data"]
        assert (data["band"], data["level"], data["previous_level"], data["waiting"]) == (
            "P1",
            "critical",
            "normal",
            12,
        )
        assert pressure_ops.publish_changes(ctx) == 0  # no change, no event

    def test_api_and_gauges(self, service, db, client, small):
        queue(service, 5, "P2")
        response = client.get("/v1/pressure?hospital_id=a", headers=auth("operator"))
        assert response.status_code == 200
        p2 = next(r for r in response.json["hospitals"] if r["band"] == "P2")
        assert p2["waiting"] == 5 and p2["capacity"] == 2
        assert REGISTRY.get_sample_value("waymark_waitlist_size", {"hospital": "a", "band": "P2"}) == 5
        assert (
            REGISTRY.get_sample_value("waymark_predicted_wait_seconds", {"hospital": "a", "band": "P2"}) > 0
        )
        assert client.get("/v1/pressure?hospital_id=bad id", headers=auth()).status_code == 422

    def test_suggests_moving_families_to_a_hospital_with_spare_capacity(self, service, db, client, clock):
        seed_region(db, clock, config=Config(offer_secret="x"))
        db.slots.update_many({"hospital_id": "bch"}, {"$set": {"state": "closed"}})
        queue(service, 8, "P2", district="xicheng", max_travel_km=12)
        report = client.get("/v1/pressure", headers=auth()).json
        assert report["suggestions"], report
        assert all(m["from_hospital"] == "bch" and m["to_hospital"] != "bch" for m in report["suggestions"])


class TestWaitlistApi:
    def test_lists_filters_and_sorts_within_scope(self, service, client, small):
        queue(service, 3, "P3")
        queue(service, 2, "P1")
        everyone = client.get(
            "/v1/waitlist?state=all&sort=breach_date&include_total=true", headers=auth()
        ).json
        assert everyone["total"] == 5 and everyone["items"][0]["band"] == "P1"
        assert "outbox" not in everyone["items"][0] and "sort_keys" not in everyone["items"][0]
        p3 = client.get("/v1/waitlist?band=P3&state=all&include_total=1", headers=auth(hospitals=("a",))).json
        assert p3["total"] == 3 and len(p3["items"]) == 3
        offered = client.get("/v1/waitlist?state=offered&include_total=true", headers=auth()).json
        assert offered["total"] == len(offered["items"]) == 2  # the two free slots
        assert client.get("/v1/waitlist", headers=auth(hospitals=("zzz",))).json == {
            "items": [],
            "next_cursor": None,
        }
        assert client.get("/v1/waitlist?hospital_id=a", headers=auth(hospitals=("zzz",))).status_code == 403
        assert client.get("/v1/waitlist?sort=nope", headers=auth()).json["error"]["fields"] == {
            "sort": ["Must be one of: priority, breach_date, referred_on."]
        }


class TestRebalance:
    def test_plan_then_apply_makes_offers(self, service, ctx, db, client, clock):
        seed_region(db, clock, config=Config(offer_secret="x"))
        queue(service, 3, "P2")
        for offer in list(db.offers.find({"state": "pending"})):  # undo the automatic offers
            db.offers.update_one({"_id": offer["_id"]}, {"$set": {"state": "withdrawn"}})
            db.slots.update_one({"_id": offer["slot_id"]}, booking.RELEASE)
        db.waitlist.update_many({}, {"$set": {"state": "waiting"}})
        db.claims.delete_many({})
        dry = client.post("/v1/allocation/rebalance", json={}, headers=auth()).json
        assert dry["applied"] is False and len(dry["assignments"]) == 3 and dry["breaches"] == 0
        assert (
            client.post("/v1/allocation/rebalance", json={}, headers=auth(hospitals=("bch",))).status_code
            == 403
        )
        applied = client.post("/v1/allocation/rebalance", json={"apply": True}, headers=auth()).json
        assert applied["offers_made"] == 3
        assert db.offers.count_documents({"state": "pending", "made_by": "rebalance"}) == 3


class TestDuties:
    def test_tick_expires_materialises_and_releases_orphans(self, service, ctx, db, clock, small):
        queue(service, 1, "P2")
        db.slots.update_one(
            {"state": "open", "kind": "intake"},
            {"$set": {"state": "booked", "appointment_id": "ghost", "booked_at": clock()}},
        )
        clock.advance(hours=49)
        done = duties.tick(ctx)
        assert done["expired"] == 1 and done["orphans"] == 1 and done["slots"] > 0
