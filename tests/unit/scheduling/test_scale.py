"""Work that does not grow with the waitlist: keyset pages, running pressure counts, indexed candidates.

The properties: paging returns every entry once and in order even while the list grows;
the running counts equal a full recomputation after any sequence of events; the sort
keys order families exactly as the fair order does; filling slots costs one candidate
query per slot group, not per slot.
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from datetime import date, timedelta

import pytest

from services.scheduling import (
    attendance,
    booking,
    calendar_ops,
    duties,
    entries,
    listing,
    offers,
    pressure_counts,
    pressure_ops,
    responses,
    walks,
)
from services.scheduling import repository as repo
from services.scheduling.config import Config
from services.scheduling.context import Conflict
from services.scheduling.domain.geography import DISTRICT_CENTROIDS
from services.scheduling.domain.model import BAND_RANK, BANDS, QUEUED, Entry, queue_key
from services.scheduling.domain.pressure import Capacity, from_counts, histogram, level_for
from services.scheduling.seed import seed_region
from tests.support.concurrency import race
from tests.support.waitlist import (
    DISTRICTS,
    ORDERS,
    escalate,
    oracle_counts,
    stored_counts,
    triage,
    withdraw,
)
from tests.unit.scheduling.conftest import auth, triaged


class TestSortKeys:
    def test_sort_keys_order_families_exactly_like_the_fair_order(self):
        rng = random.Random(3)
        docs = []
        for n in range(400):
            doc = {
                "_id": f"c{rng.randint(0, 10**6)}-{n}",
                "urgent": rng.random() < 0.2,
                "band": rng.choice(BANDS),
                "referred_on": (date(2025, 1, 1) + timedelta(days=rng.randint(0, 9))).isoformat(),
                "target_date": (date(2025, 2, 1) + timedelta(days=rng.randint(0, 9))).isoformat(),
                "score": rng.choice([0, 0.5, 1e-9, 3, 50, 50.25, 99.99, -2.5, 1e6]),
            }
            docs.append(doc)
        for sort, order in ORDERS.items():
            by_key = sorted(docs, key=lambda d, s=sort: entries.sort_keys(d)[s])
            assert by_key == sorted(docs, key=lambda d, o=order: o({**d, "id": d["_id"]}))
        families = [
            Entry(
                d["_id"],
                d["band"],
                date.fromisoformat(d["referred_on"]),
                date.today(),
                score=d["score"],
                urgent=d["urgent"],
            )
            for d in docs
        ]
        fair = [e.case_id for e in sorted(families, key=queue_key)]
        assert [d["_id"] for d in sorted(docs, key=lambda d: entries.sort_keys(d)["priority"])] == fair


class TestCursorPaging:
    def page_through(self, client, query, limit, between=None, headers=None):
        seen, cursor, pages = [], None, 0
        while True:
            url = f"/v1/waitlist?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            response = client.get(url, headers=headers or auth())
            assert response.status_code == 200, response.json
            body = response.json
            assert len(body["items"]) <= limit and "total" not in body
            seen += body["items"]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                return seen, pages
            if between:
                between(pages)

    @pytest.mark.parametrize("sort", sorted(ORDERS))
    def test_every_entry_once_and_in_order_while_entries_arrive(self, service, db, client, clock, sort):
        seed_region(db, clock, config=Config(offer_secret="x"))
        db.slots.update_many({}, {"$set": {"state": "closed"}})  # nobody is offered: all stay waiting
        rng = random.Random(sort)
        for n in range(40):
            triage(service, rng, f"c{n:03d}")
        for n in range(3):
            escalate(service, f"c{n * 7:03d}", 30 + n)
        before = {d["_id"] for d in db.waitlist.find({"state": "waiting"})}
        added = []

        def arrive(page: int) -> None:
            for k in range(3):
                case = f"new-{page}-{k}"
                triage(service, rng, case)
                added.append(case)

        seen, pages = self.page_through(client, f"sort={sort}", 6, arrive)
        ids = [d["id"] for d in seen]
        assert len(ids) == len(set(ids)), "an entry came twice"
        assert before <= set(ids), "an entry present throughout was skipped"
        assert set(ids) - before <= set(added)
        keys = [ORDERS[sort](d) for d in seen]
        assert keys == sorted(keys) and pages >= 7

    def test_filters_scope_and_hospital_lanes(self, service, db, client, clock):
        seed_region(db, clock, config=Config(offer_secret="x"))
        db.slots.update_many({}, {"$set": {"state": "closed"}})
        rng = random.Random(11)
        for n in range(30):
            triage(service, rng, f"c{n:03d}")
        withdraw(service, "c005")
        scope = ("bch", "cyc")
        mine = list(
            db.waitlist.find({"state": "waiting", "band": "P3", "eligible_hospitals": {"$in": list(scope)}})
        )
        seen, _ = self.page_through(client, "band=P3", 4, headers=auth(hospitals=scope))
        assert sorted(d["id"] for d in seen) == sorted(d["_id"] for d in mine)  # once, though in two lanes
        assert [ORDERS["priority"](d) for d in seen] == sorted(ORDERS["priority"](d) for d in seen)
        everyone, _ = self.page_through(client, "state=all", 7)
        assert len(everyone) == db.waitlist.count_documents({}) and {"removed", "waiting"} <= {
            d["state"] for d in everyone
        }
        total = client.get("/v1/waitlist?state=all&include_total=true&limit=1", headers=auth()).json
        assert total["total"] == 30 and len(total["items"]) == 1

    def test_bad_cursors_and_offsets_are_refused(self, service, db, client, small):
        service.handlers["assessment.triaged"](triaged("a1"))
        service.handlers["assessment.triaged"](triaged("a2"))
        first = client.get("/v1/waitlist?state=all&limit=1", headers=auth()).json
        cursor = first["next_cursor"]
        assert (
            listing.decode("priority", cursor) == db.waitlist.find_one({"_id": "a1"})["sort_keys"]["priority"]
        )
        other = client.get(f"/v1/waitlist?state=all&sort=referred_on&cursor={cursor}", headers=auth())
        assert other.status_code == 422 and "sort=priority" in other.json["error"]["fields"]["cursor"][0]
        for junk in ("not-base64!", "bm90IGpzb24", listing.encode("priority", "x")[:-2]):
            assert client.get(f"/v1/waitlist?cursor={junk}", headers=auth()).status_code == 422
        assert client.get("/v1/waitlist?offset=0", headers=auth()).status_code == 200
        assert client.get("/v1/waitlist?offset=5", headers=auth()).status_code == 422
        second = client.get(f"/v1/waitlist?state=all&limit=1&cursor={cursor}", headers=auth()).json
        assert [d["id"] for d in first["items"] + second["items"]] == ["a1", "a2"]
        assert second["next_cursor"] is None


class TestPressureCounts:
    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_running_counts_equal_a_full_recomputation_after_random_events(
        self, service, ctx, db, clock, seed
    ):
        seed_region(db, clock, config=Config(offer_secret="x"))
        rng = random.Random(seed)
        cases: list[str] = []
        versions: Counter = Counter()

        def join(step: int) -> None:
            cases.append(f"c{step}")
            versions[cases[-1]] = 1
            triage(service, rng, cases[-1])

        def retriage(_: int) -> None:
            case = rng.choice(cases)
            versions[case] += 1
            triage(service, rng, case, versions[case])

        def later(_: int) -> None:
            clock.advance(hours=rng.randint(2, 40))
            responses.expire_due(ctx)
            offers.fill_open_slots(ctx)

        events = {
            "triage": (30, join),
            "retriage": (8, retriage),
            "escalate": (
                6,
                lambda step: escalate(service, rng.choice([*cases, f"early{step}"]), rng.randint(1, 200)),
            ),
            "withdraw": (6, lambda _: withdraw(service, rng.choice(cases))),
            "book": (10, lambda _: self.book_someone(ctx, db, rng)),
            "cancel": (8, lambda _: self.cancel_or_record(ctx, db, rng)),
            "answer": (10, lambda _: self.answer_an_offer(ctx, db, rng)),
            "time": (6, later),
            "hospital": (4, lambda _: self.move_a_hospital(ctx, db, rng)),
            "fold": (6, lambda _: pressure_counts.apply(db, batch=rng.randint(1, 30))),  # the single writer
        }
        steps = Counter()
        for step in range(160):
            op = rng.choices(list(events), weights=[w for w, _ in events.values()])[0] if cases else "triage"
            steps[op] += 1
            events[op][1](step)
            if step % 40 == 39:
                assert +stored_counts(db) == +oracle_counts(db), f"after step {step} ({op})"
        assert +stored_counts(db) == +oracle_counts(db)
        assert pressure_counts.repair(db) == 0  # nothing to repair, with moves still pending
        while pressure_counts.apply(db):
            pass
        assert db.pressure_moves.count_documents({}) == 0
        assert +stored_counts(db) == +oracle_counts(db)  # the counts documents alone
        assert pressure_counts.repair(db) == 0
        assert len(steps) == 10 and sum(oracle_counts(db).values()) > 10, steps

    def test_concurrent_writers_lose_no_move(self, service, ctx, db, small):
        base = {
            "state": "waiting",
            "band": "P2",
            "score": 1,
            "home_hospital": "a",
            "eligible_hospitals": ["a"],
        }
        dates = {"referred_on": "2025-02-01", "target_date": "2025-03-03"}
        race(8, lambda k: entries.insert(ctx, {"_id": f"r{k}", **base, **dates}), Conflict)
        race(8, lambda k: entries.update(ctx, {"_id": f"r{k}"}, {"$set": {"band": "P1"}}), Conflict)
        assert (
            +stored_counts(db)
            == +oracle_counts(db)
            == Counter({("a", "P1", (False, date(2025, 2, 1), date(2025, 3, 3))): 8})
        )
        assert db.pressure_moves.count_documents({}) == 16 and pressure_counts.apply(db) == 16
        assert +stored_counts(db) == +oracle_counts(db)

    def book_someone(self, ctx, db, rng):
        queued = list(
            db.waitlist.find({"state": {"$in": list(QUEUED)}, "eligible_hospitals.0": {"$exists": True}})
        )
        if not queued:
            return
        entry = rng.choice(queued)
        slot = db.slots.find_one(
            {"state": "open", "kind": "intake", "hospital_id": {"$in": entry["eligible_hospitals"]}}
        )
        if slot:
            with contextlib.suppress(Conflict):
                booking.book(ctx, entry["_id"], slot["_id"], by="test")

    def cancel_or_record(self, ctx, db, rng):
        booked = list(db.appointments.find({"state": "booked", "kind": "intake"}))
        if not booked:
            return
        appt = rng.choice(booked)
        try:
            if repo.aware(appt["start"]) <= ctx.now():
                attendance.record(ctx, appt["_id"], rng.choice(["attended", "no_show"]))
            else:
                booking.cancel(ctx, appt["_id"], "family_request", requeue=rng.random() < 0.7)
        except Conflict:
            pass

    def answer_an_offer(self, ctx, db, rng):
        pending = list(db.offers.find({"state": "pending"}))
        if not pending:
            return
        offer = rng.choice(pending)
        token = offers.token_for(ctx, offer["_id"])
        with contextlib.suppress(Conflict):
            (responses.accept if rng.random() < 0.5 else responses.decline)(ctx, token)

    def move_a_hospital(self, ctx, db, rng):
        doc = rng.choice(list(db.hospitals.find({})))
        district = rng.choice(DISTRICTS)
        lat, lon = DISTRICT_CENTROIDS[district]
        data = {k: doc[k] for k in ("name", "clinic_types", "languages")}
        calendar_ops.put_hospital(ctx, doc["_id"], {**data, "district": district, "lat": lat, "lon": lon})

    def test_repair_puts_drifted_counts_right_once(self, service, ctx, db, clock):
        seed_region(db, clock, config=Config(offer_secret="x"), families=40)
        pressure_counts.apply(db)
        (home, band, bucket), *_ = sorted(oracle_counts(db))
        name = pressure_counts.bucket_name((bucket[0], bucket[1].isoformat(), bucket[2].isoformat()))
        db.pressure_counts.update_one(
            {"_id": f"{home}|{band}"}, {"$inc": {f"buckets.{name}": 1}}
        )  # a fold twice
        db.pressure_counts.update_one({"_id": "bch|P1"}, {"$inc": {"buckets.n:2020-01-01:2020-01-15": 1}})
        last = sorted(oracle_counts(db))[-1]
        db.pressure_counts.delete_one({"_id": pressure_counts.doc_id(last[0], last[1])})  # lost folds
        pressure_counts.move(db, None, "bch|P1|n:2020-01-01:2020-01-15", clock())  # a lost entry write...
        db.waitlist.update_many({}, {"$set": {"note": "x"}})
        for n in range(3):  # ...and moves still pending when the repair runs
            service.handlers["assessment.triaged"](triaged(f"late{n}", "P3"))
        exact = +oracle_counts(db)
        assert +stored_counts(db) != exact
        assert pressure_counts.repair(db) >= 3
        assert +stored_counts(db) == exact
        assert pressure_counts.repair(db) == 0
        while pressure_counts.apply(db):
            pass
        assert +stored_counts(db) == exact and pressure_counts.repair(db) == 0
        emptied = db.pressure_counts.find_one({"_id": "bch|P1"}) or {"buckets": {}}
        assert "n:2020-01-01:2020-01-15" not in emptied["buckets"]  # zero buckets are dropped

    def test_one_writer_folds_repairs_when_due_and_backfills_old_entries(self, service, ctx, db, clock):
        seed_region(db, clock, config=Config(offer_secret="x"))
        for n in range(3):  # written by the code before derived fields existed
            db.waitlist.insert_one(
                {
                    "_id": f"old{n}",
                    "state": "waiting",
                    "band": "P2",
                    "score": 40,
                    "referred_on": "2025-02-01",
                    "target_date": "2025-03-03",
                    "clinic_type": "school_refusal",
                    "constraints": {"home_district": "xicheng"},
                    "eligible_hospitals": ["bch", "cyc"],
                }
            )
        writer, other = duties.Lease(), duties.Lease()
        first = duties.count_step(ctx, writer)
        assert first == {
            "moves": 0,
            "raises": 0,
            "backfilled": 3,
            "walks": 0,
            "repaired": 0,
        }  # journaled and listed the three
        assert duties.count_step(ctx, other) is None  # one writer per lease window
        assert duties.count_step(ctx, writer) == {"moves": 3}  # folded; no repair before it is due
        assert db.meta.find_one({"_id": entries.BACKFILLED})["entries"] == 3
        old = db.waitlist.find_one({"_id": "old0"})
        assert old["home_hospital"] == "bch" and old["pressure_key"].startswith("bch|P2|")
        assert +stored_counts(db) == +oracle_counts(db)
        page = listing.page(db, "priority", listing.lanes(["waiting"], ["P2"], None), None, 10)[0]
        assert [d["_id"] for d in page] == ["old0", "old1", "old2"]
        clock.advance(seconds=ctx.config.pressure_repair_s)
        assert duties.count_step(ctx, other) == {
            "moves": 0,
            "raises": 0,
            "backfilled": 0,
            "walks": 0,
            "repaired": 0,
        }
        assert duties.count_step(ctx, writer) is None
        clock.advance(seconds=duties.LEASE_S)
        assert duties.count_step(ctx, writer) == {"moves": 0, "raises": 0}  # next window; raises due
        assert db.claims.count_documents({"_id": {"$regex": "^pressure-writer:"}}) == 1  # old leases gone

    def test_pressure_api_reads_the_counts_not_the_list(self, service, ctx, db, client, small):
        for n in range(5):
            service.handlers["assessment.triaged"](triaged(f"p{n}", "P2", referred_on=f"2025-02-0{n + 1}"))
        p2 = next(
            r for r in client.get("/v1/pressure", headers=auth()).json["hospitals"] if r["band"] == "P2"
        )
        assert (p2["waiting"], p2["oldest_wait_days"]) == (5, 30)
        pressure_counts.apply(db)
        db.pressure_counts.delete_many({})  # as if every fold had been lost
        assert {r.waiting for r in pressure_ops.rows(ctx)} == {0}
        assert pressure_counts.repair(db) == 5  # one bucket per referral day
        assert next(r for r in pressure_ops.rows(ctx) if r.band == "P2").waiting == 5


def old_compute(entries_, home, capacity, today, window_end):
    """The per-family projection the counts replaced, kept as the oracle."""
    import math

    rows = {}
    for hospital_id in sorted(capacity):
        queue = sorted((e for e in entries_ if home.get(e.case_id) == hospital_id), key=queue_key)
        cap = capacity[hospital_id]
        days = sorted(cap.open_days)[: len(queue) + 1]
        for k in range(len(queue) + 1 - len(days)):
            if cap.weekly_rate <= 0:
                days.append(today + timedelta(days=365))
            else:
                days.append(window_end + timedelta(days=math.ceil((k + 1) * 7 / cap.weekly_rate)))
        for band in BANDS:
            members = [(i, e) for i, e in enumerate(queue) if e.band == band]
            ahead = sum(1 for e in queue if BAND_RANK[e.band] <= BAND_RANK[band])
            wait = (days[ahead] - today).days
            breaches = sum(1 for i, e in members if days[i] > e.target_date)
            oldest = max(((today - e.referred_on).days for _, e in members), default=0)
            rows[(hospital_id, band)] = (len(members), len(cap.open_days), wait, breaches, oldest)
    return rows


class TestProjectionFromCounts:
    @pytest.mark.parametrize("seed", range(30))
    def test_counts_give_the_same_pressure_as_the_per_family_projection(self, seed):
        """Exact whenever families of one (urgent, band, referral day) share a target, as triage makes them."""
        rng = random.Random(seed)
        today = date(2025, 3, 3)
        window_end = today + timedelta(weeks=4)
        hospitals = ["a", "b", "c"]
        capacity = {
            h: Capacity(
                [today + timedelta(days=rng.randint(1, 28)) for _ in range(rng.randint(0, 12))],
                weekly_rate=rng.choice([0, 0.5, 2, 7]),
            )
            for h in hospitals
        }
        families, home = [], {}
        for n in range(rng.randint(0, 120)):
            band, urgent = rng.choice(BANDS), rng.random() < 0.15
            referred = today - timedelta(days=rng.randint(0, 90))
            target = referred + timedelta(days={"P1": 14, "P2": 30, "P3": 105}[band] - (5 if urgent else 0))
            entry = Entry(f"f{n}", band, referred, target, score=rng.randint(0, 100), urgent=urgent)
            families.append(entry)
            home[entry.case_id] = rng.choice(hospitals)
        rows = from_counts(histogram(families, home), capacity, today, window_end)
        expected = old_compute(families, home, capacity, today, window_end)
        got = {
            (r.hospital_id, r.band): (
                r.waiting,
                r.capacity,
                r.predicted_wait_days,
                r.projected_breaches,
                r.oldest_wait_days,
            )
            for r in rows
        }
        assert got == expected
        assert all(
            r.level == level_for(r.band, r.predicted_wait_days, r.projected_breaches, Config().thresholds)
            for r in rows
        )


class TestOfferCandidates:
    def test_soon_slots_go_to_urgent_families_and_weekday_limits_hold(self, service, ctx, db, small):
        db.slots.update_many({}, {"$set": {"state": "closed"}})
        service.handlers["assessment.triaged"](triaged("early-p1", "P1", referred_on="2025-01-01"))
        service.handlers["assessment.triaged"](
            triaged("mon-never", "P1", referred_on="2025-01-02", constraints={"weekdays": ["tue"]})
        )
        service.handlers["assessment.triaged"](triaged("late-p3", "P3", referred_on="2025-03-01"))
        escalate(service, "late-p3", 50)
        soon = db.slots.find_one({"kind": "intake", "hospital_id": "a"}, sort=[("start", 1)])
        # Monday 2025-03-10 09:00 local: 169 h away, fine for everyone; pretend it is 40 h away.
        ctx.clock.now = repo.aware(soon["start"]) - timedelta(hours=40)
        assert [d["_id"] for d in offers.candidates(ctx, soon)] == ["late-p3"]  # urgent only
        ctx.clock.now = repo.aware(soon["start"]) - timedelta(hours=100)
        assert [d["_id"] for d in offers.candidates(ctx, soon)] == ["late-p3", "early-p1"]
        ctx.clock.now = repo.aware(soon["start"]) - timedelta(hours=30)
        assert list(offers.candidates(ctx, soon)) == []  # too soon for any hold

    def test_candidates_skip_who_cannot_come_and_page_on_when_offers_fail(
        self, service, ctx, db, small, monkeypatch
    ):
        db.slots.update_many({}, {"$set": {"state": "closed"}})
        monkeypatch.setattr(walks, "BATCH", 4)  # keyset within a bucket, too
        for n in range(11):
            service.handlers["assessment.triaged"](
                triaged(f"tue-{n:02d}", "P1", referred_on="2025-01-01", constraints={"weekdays": ["tue"]})
            )
        for n in range(9):
            service.handlers["assessment.triaged"](triaged(f"any-{n}", "P2", referred_on="2025-01-01"))
        slot = db.slots.find_one({"kind": "intake", "hospital_id": "a"}, sort=[("start", 1)])
        db.slots.update_one(
            {"_id": slot["_id"]}, {"$set": {"state": "open", "passed_by": ["any-0", "any-1"]}}
        )
        offered = offers.offer_slot(ctx, slot["_id"])
        assert offered["case_id"] == "any-2"
        # the rejected offer makers fall through to the next page
        taken = offers.make_offer
        monkeypatch.setattr(
            offers,
            "make_offer",
            lambda c, e, s, by="auto": None if e["_id"] < "any-7" else taken(c, e, s, by),
        )
        second = db.slots.find({"kind": "intake", "hospital_id": "a"}).sort("start", 1).skip(1).limit(1)[0]
        db.slots.update_one({"_id": second["_id"]}, {"$set": {"state": "open"}})
        assert offers.offer_slot(ctx, second["_id"])["case_id"] == "any-7"

    def test_filling_costs_one_candidate_query_per_slot_group(self, service, ctx, db, clock, monkeypatch):
        seed_region(db, clock, config=Config(offer_secret="x"))
        db.slots.update_many({}, {"$set": {"state": "closed"}})
        for n in range(6):  # families who come only on Saturdays: no slot is any use to them
            service.handlers["assessment.triaged"](
                triaged(f"sat-{n}", "P2", constraints={"weekdays": ["sat"]})
            )
        service.handlers["assessment.triaged"](
            triaged("anyday", "P2", constraints={"home_district": "xicheng"})
        )
        db.slots.update_many({"kind": "intake"}, {"$set": {"state": "open"}})
        calls = Counter()
        real = offers.candidates

        def counted(ctx_, slot):
            calls[slot["_id"]] += 1
            return real(ctx_, slot)

        monkeypatch.setattr(offers, "candidates", counted)
        slots = db.slots.count_documents({"state": "open", "kind": "intake"})
        assert offers.fill_open_slots(ctx, limit=200) == 1
        groups = {
            (
                s["hospital_id"],
                s["clinic_type"],
                s["weekday"],
                repo.aware(s["start"]) < offers.earliest_start(ctx, False),
            )
            for s in db.slots.find({"kind": "intake"})
        }
        assert sum(calls.values()) <= len(groups) + 1 < slots / 10
