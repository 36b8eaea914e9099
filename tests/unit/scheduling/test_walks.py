"""Walks over equality buckets (services/scheduling/walks.py) and the week walk over open slots."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from services.scheduling import calendar_ops, entries, listing, offers, walks
from services.scheduling import repository as repo
from services.scheduling.config import Config
from services.scheduling.domain.geography import travel_km
from services.scheduling.domain.model import BANDS
from services.scheduling.seed import seed_region
from tests.support.waitlist import escalate, triage, withdraw
from tests.unit.scheduling.conftest import triaged


@pytest.fixture
def listed(service, db, clock):
    """A region with 80 families, nobody offered (slots closed); some urgent, some withdrawn."""
    seed_region(db, clock, config=Config(offer_secret="x"))
    db.slots.update_many({}, {"$set": {"state": "closed"}})
    rng = random.Random(5)
    for n in range(80):
        triage(service, rng, f"c-{rng.getrandbits(40):010x}{n:02d}")
    ids = sorted(d["_id"] for d in db.waitlist.find({}, {"_id": 1}))
    for case in ids[::9]:
        escalate(service, case, 40)
    for case in ids[3::11]:
        withdraw(service, case)
    return ids


def in_order(db, sort, state, band, extra=None, after=None, before=None):
    query = {"state": state, "band": band, **(extra or {})}
    keys = sorted(d["sort_keys"][sort] for d in db.waitlist.find(query))
    return [k for k in keys if (after is None or k > after) and (before is None or k < before)]


class TestWalk:
    @pytest.mark.parametrize("sort", sorted(walks.WIDTHS))
    def test_every_lane_walks_exactly_its_entries_in_order_from_any_cursor(self, db, listed, sort):
        rng = random.Random(sort)
        for state in ("waiting", "removed"):
            for band in (*BANDS, None):
                expected = in_order(db, sort, state, band)
                got = [d["sort_keys"][sort] for d in walks.walk(db, sort, state, band)]
                assert got == expected, (state, band)
                for after in rng.sample(expected, min(4, len(expected))):
                    tail = [d["sort_keys"][sort] for d in walks.walk(db, sort, state, band, after=after)]
                    assert tail == in_order(db, sort, state, band, after=after)
        assert any(in_order(db, sort, "removed", b) for b in BANDS)  # the removed lanes are not empty

    def test_bounds_and_extra_filters_apply(self, db, listed):
        urgent = [d["sort_keys"]["priority"] for d in walks.walk(db, "priority", "waiting", "P3", before="1")]
        assert urgent and all(k.startswith("0|") for k in urgent)
        assert urgent == in_order(db, "priority", "waiting", "P3", before="1")
        normal = [d["sort_keys"]["priority"] for d in walks.walk(db, "priority", "waiting", "P3", after="0~")]
        assert normal == in_order(db, "priority", "waiting", "P3", after="0~")
        at_cyc = {"eligible_hospitals": "cyc"}
        got = [d["sort_keys"]["priority"] for d in walks.walk(db, "priority", "waiting", "P2", at_cyc)]
        assert got == in_order(db, "priority", "waiting", "P2", at_cyc) and got

    def test_each_store_read_matches_one_bucket(self, db, listed, monkeypatch):
        """Every entry read of a page is an equality on a bucket field: no read matches a whole lane."""
        seen = []
        collection = type(db.waitlist)
        real = collection.find

        def spy(self, query=None, *args, **kwargs):
            if self.name == "waitlist":
                seen.append(dict(query or {}))
            return real(self, query, *args, **kwargs)

        monkeypatch.setattr(collection, "find", spy)
        lanes = listing.lanes(["waiting"], [*BANDS, None], None)
        assert len(listing.page(db, "priority", lanes, None, 30)[0]) == 30
        monkeypatch.setattr(collection, "find", real)
        buckets = [{k: q[k]} for q in seen for k in walks.FIELDS if k in q]
        assert seen and len(buckets) == len(seen)
        largest = max(db.waitlist.count_documents(b) for b in buckets)
        waiting = db.waitlist.count_documents({"state": "waiting"})
        assert largest <= 5 < waiting / 4

    def test_a_family_moving_bucket_is_walked_once_at_its_new_place(self, service, db, listed):
        case = next(d["_id"] for d in db.waitlist.find({"state": "waiting", "band": "P3", "urgent": False}))
        before = db.waitlist.find_one({"_id": case})["walk_priority"]
        escalate(service, case, 30)
        after = db.waitlist.find_one({"_id": case})
        assert after["walk_priority"] != before and after["walk_priority"].split("|", 3)[3].startswith("0|")
        ids = [d["_id"] for d in walks.walk(db, "priority", "waiting", "P3")]
        assert ids.count(case) == 1 and ids.index(case) < len(
            in_order(db, "priority", "waiting", "P3", before="1")
        )


class TestDirectoryUpkeep:
    def test_entries_without_walk_fields_are_backfilled_then_listed_by_repair(self, ctx, db, listed):
        hidden = [d["_id"] for d in db.waitlist.find({"state": "waiting"})][:7]
        db.waitlist.update_many({"_id": {"$in": hidden}}, {"$unset": dict.fromkeys(walks.FIELDS, "")})
        db[walks.DIRECTORY].delete_many({})  # as on a store written before the directory existed
        page = listing.page(db, "referred_on", listing.lanes(["waiting"], [*BANDS, None], None), None, 500)[0]
        assert page == []  # nothing is reachable without the directory
        assert entries.backfill_walks(ctx) == 7 and entries.backfill_walks(ctx) == 0  # once per store
        assert walks.repair(db, ctx.now())["listed"] > 0
        for sort in walks.WIDTHS:
            lanes = listing.lanes(["waiting"], [*BANDS, None], None)
            got = [d["sort_keys"][sort] for d in listing.page(db, sort, lanes, None, 500)[0]]
            assert got == sorted(d["sort_keys"][sort] for d in db.waitlist.find({"state": "waiting"}))
        assert walks.repair(db, ctx.now()) == {"listed": 0, "pruned": 0}

    def test_repair_prunes_emptied_buckets_only(self, service, ctx, db, listed):
        waiting = [d["_id"] for d in db.waitlist.find({"state": "waiting"})][:10]
        for case in waiting:
            withdraw(service, case)
        result = walks.repair(db, ctx.now())
        assert result["listed"] == 0 and result["pruned"] > 0
        for sort in walks.WIDTHS:
            for state in ("waiting", "removed"):
                for band in (*BANDS, None):
                    got = [d["sort_keys"][sort] for d in walks.walk(db, sort, state, band)]
                    assert got == in_order(db, sort, state, band)
        # every remaining directory document leads to someone
        for doc in db[walks.DIRECTORY].find({}):
            sort = doc["_id"].split("|")[0]
            if len(doc["key"]) > walks.WIDTHS[sort][0]:
                assert db.waitlist.find_one({walks.field(sort): doc["_id"]}) is not None

    def test_a_pruned_bucket_someone_just_entered_is_restored(self, ctx, db, listed):
        doc = db.waitlist.find_one({"state": "waiting"})
        token = doc["walk_priority"]
        assert walks._prune(db, token, ctx.now()) == 0  # re-read: not empty, put back
        assert db[walks.DIRECTORY].find_one({"_id": token}) is not None

    def test_directory_documents_are_written_before_the_entry(self, service, ctx, db, listed, monkeypatch):
        def crash(*args, **kwargs):
            raise RuntimeError("crashed before the entry was written")

        monkeypatch.setattr(ctx.writes, "insert_one", crash)
        with pytest.raises(RuntimeError):
            service.handlers["assessment.triaged"](triaged("c-crash", "P1"))
        assert db.waitlist.find_one({"_id": "c-crash"}) is None
        fields = entries.derived({"_id": "c-crash", "state": "waiting", "band": "P1", "score": 50,
                                  "referred_on": "2025-02-20", "target_date": "2025-03-06"})  # fmt: skip
        for field in walks.FIELDS:
            assert db[walks.DIRECTORY].find_one({"_id": fields[field]}) is not None


class TestOpenSlotWeeks:
    def oracle(self, ctx, db, entry):
        earliest = offers.earliest_start(ctx, bool(entry.get("urgent")))
        weekdays = (entry.get("constraints") or {}).get("weekdays") or []
        found = [
            s
            for s in db.slots.find({"state": "open", "kind": "intake"})
            if repo.aware(s["start"]) >= earliest
            and s["hospital_id"] in entry["eligible_hospitals"]
            and (not weekdays or s["weekday"] in weekdays)
        ]
        located = {h.id: h.location for h in repo.hospitals(db)}
        home = (entry.get("constraints") or {}).get("home_district")
        return min(
            found,
            key=lambda s: (s["day"], travel_km(home, located[s["hospital_id"]]) or 0.0, s["start"]),
            default=None,
        )

    def test_the_best_slot_is_the_earliest_whatever_week_it_is_in(self, service, ctx, db, clock):
        seed_region(db, clock, config=Config(offer_secret="x"))
        rng = random.Random(2)
        entry = {
            "_id": "c-x",
            "eligible_hospitals": ["bch", "cyc", "tzh"],
            "clinic_type": "school_refusal",
            "constraints": {"home_district": "xicheng", "weekdays": ["thu"]},
            "passed_slots": [],
        }
        for _ in range(6):
            expected = self.oracle(ctx, db, entry)
            got = offers.best_slot_for_entry(ctx, entry)
            assert (got or {}).get("_id") == (expected or {}).get("_id")
            if expected is None:
                break
            # close that slot's whole week for this family's hospitals, and a random later one
            db.slots.update_many({"week": expected["week"]}, {"$set": {"state": "closed"}})
            db.slots.update_many({"week": rng.choice(db.slots.distinct("week"))}, {"$set": {"state": "held"}})
        assert db.slots.find_one({"week": {"$exists": False}}) is None

    def test_slots_made_before_weeks_are_backfilled_once(self, service, ctx, db, clock):
        seed_region(db, clock, config=Config(offer_secret="x"))
        entry = {"_id": "c-y", "eligible_hospitals": ["bch"], "clinic_type": "school_refusal"}
        expected = offers.best_slot_for_entry(ctx, entry)
        db.slots.update_many({}, {"$unset": {"week": ""}})
        assert offers.best_slot_for_entry(ctx, entry) is None  # invisible without their week
        slots = db.slots.count_documents({})
        assert calendar_ops.backfill_weeks(ctx) == slots and calendar_ops.backfill_weeks(ctx) == 0
        assert offers.best_slot_for_entry(ctx, entry)["_id"] == expected["_id"]
        one = db.slots.find_one({})
        day = repo.aware(one["start"]).astimezone(ctx.config.tz).date()
        assert one["week"] == repo.week_of(day) and one["day"] == day.isoformat()

    def test_week_strings_sort_like_the_weeks(self):
        from datetime import date

        days = [date(2026, 12, 20) + timedelta(days=n) for n in range(0, 60, 3)]
        weeks = [repo.week_of(d) for d in days]
        assert weeks == sorted(weeks) and repo.week_of(date(2027, 1, 1)) == "2026-W53"


class TestAnyoneWaiting:
    def test_the_fill_guard_sees_waiting_families_only(self, service, ctx, db, small):
        db.slots.update_many({}, {"$set": {"state": "closed"}})
        assert not offers.anyone_waiting(ctx)
        service.handlers["assessment.triaged"](triaged("c-only", "P3"))
        assert offers.anyone_waiting(ctx)
        db.waitlist.update_one({"_id": "c-only"}, {"$set": {"state": "offered"}})  # as an offer writes it
        assert not offers.anyone_waiting(ctx) and offers.fill_open_slots(ctx) == 0


def test_indexes_of_the_lanes_before_the_walks_are_dropped_at_start(db, clock):
    from services.scheduling.bootstrap import build
    from shared.settings import Settings

    db.waitlist.create_index([("state", 1), ("band", 1), ("sort_keys.priority", 1)])
    db.waitlist.create_index(
        [("state", 1), ("eligible_hospitals", 1), ("clinic_type", 1)], name="offer_candidates"
    )
    assert {"state_1_band_1_sort_keys.priority_1", "offer_candidates"} <= set(db.waitlist.index_information())
    build(
        Settings(service="scheduling"), db=db, clock=clock, config=Config(offer_secret="x"), run_duties=False
    )
    names = set(db.waitlist.index_information())
    assert not names & {"state_1_band_1_sort_keys.priority_1", "offer_candidates"}
    assert "walk_priority_1_state_1_eligible_hospitals_1_sort_keys.priority_1" in names
