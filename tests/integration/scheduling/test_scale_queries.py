"""The list-independent queries on the real store: keyset lanes, offer candidates, pressure counts.

FerretDB must run every shape these paths send (dotted sort keys, ``$gt`` ranges on them,
``$or`` with ``$exists``, ``$nin``, ``$inc`` on dotted bucket names with upsert,
``$group`` by a compound ``_id`` with ``$sum``) and give the same answers as the unit
tests' mongomock; and the running counts must come back to exact after real concurrent
``$inc`` races, which FerretDB 1.x can lose.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta

import pytest

from services.scheduling import (
    booking,
    duties,
    entries,
    listing,
    offers,
    pressure_counts,
    pressure_ops,
    walks,
)
from services.scheduling import repository as repo
from services.scheduling.context import Conflict
from services.scheduling.domain.model import QUEUED
from tests.integration.scheduling.test_scheduling_stack import CONFIG
from tests.support.concurrency import race
from tests.support.waitlist import ORDERS, escalate, oracle_counts, stored_counts, triage, withdraw
from tests.unit.scheduling.conftest import auth, triaged

pytestmark = pytest.mark.integration


def page_through(client, query: str, limit: int, between=None, headers=None) -> list[dict]:
    seen, cursor, pages = [], None, 0
    while True:
        url = f"/v1/waitlist?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=headers or auth()).json
        seen += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
        if between:
            between(pages)


def test_waitlist_pages_by_cursor_on_the_real_store(scheduling, mongo_db):
    service, _ctx = scheduling
    mongo_db.slots.update_many({}, {"$set": {"state": "closed"}})  # everyone stays waiting
    rng = random.Random(5)
    for n in range(24):
        triage(service, rng, f"c{n:02d}")
    escalate(service, "c03", 40)
    escalate(service, "c17", 60)
    client = service.app.test_client()
    for sort, order in ORDERS.items():
        present = {d["_id"] for d in mongo_db.waitlist.find({"state": "waiting"})}
        added: list[str] = []

        def arrive(page: int, s=sort, added=added) -> None:
            case = f"new-{s}-{page}"
            triage(service, rng, case)
            added.append(case)

        seen = page_through(client, f"sort={sort}", 5, arrive)
        ids = [d["id"] for d in seen]
        assert len(ids) == len(set(ids)) and present <= set(ids) <= present | set(added), sort
        assert [order(d) for d in seen] == sorted(order(d) for d in seen), sort
    scoped = page_through(client, "band=P2", 3, headers=auth(hospitals=("bch", "cyc")))
    expected = mongo_db.waitlist.count_documents(
        {"state": "waiting", "band": "P2", "eligible_hospitals": {"$in": ["bch", "cyc"]}}
    )
    assert len(scoped) == len({d["id"] for d in scoped}) == expected > 0
    escalate(service, "early-bird", 70)  # awaiting triage: no band yet (the band-less lane)
    everything = page_through(client, "state=all", 9)
    total = client.get("/v1/waitlist?state=all&include_total=true", headers=auth()).json["total"]
    assert len(everything) == total == mongo_db.waitlist.count_documents({})
    assert "early-bird" in {d["id"] for d in everything}


def test_offer_candidates_on_the_real_store(scheduling, mongo_db):
    service, ctx = scheduling
    mongo_db.slots.update_many({}, {"$set": {"state": "closed"}})
    service.handlers["assessment.triaged"](triaged("p1-old", "P1", referred_on="2025-01-01"))
    service.handlers["assessment.triaged"](
        triaged("tue-only", "P1", referred_on="2024-12-01", constraints={"weekdays": ["tue"]})
    )
    service.handlers["assessment.triaged"](triaged("p2", "P2", referred_on="2025-01-05"))
    service.handlers["assessment.triaged"](triaged("p3-urgent", "P3", referred_on="2025-03-01"))
    escalate(service, "p3-urgent", 50)
    monday = mongo_db.slots.find_one(
        {"kind": "intake", "hospital_id": "bch", "weekday": "mon"}, sort=[("start", 1)]
    )
    start = repo.aware(monday["start"])
    ctx.clock.now = start - timedelta(hours=100)
    assert [d["_id"] for d in offers.candidates(ctx, monday)] == ["p3-urgent", "p1-old", "p2"]
    ctx.clock.now = start - timedelta(hours=40)
    assert [d["_id"] for d in offers.candidates(ctx, monday)] == ["p3-urgent"]
    ctx.clock.now = start - timedelta(hours=100)
    passed = {**monday, "passed_by": ["p3-urgent", "p1-old"]}
    assert [d["_id"] for d in offers.candidates(ctx, passed)] == ["p2"]
    mongo_db.slots.update_one({"_id": monday["_id"]}, {"$set": {"state": "open"}})
    assert offers.fill_open_slots(ctx) == 1
    assert mongo_db.offers.find_one({"slot_id": monday["_id"]})["case_id"] == "p3-urgent"


def test_pressure_counts_follow_the_list_on_the_real_store(scheduling, mongo_db):
    service, ctx = scheduling
    rng = random.Random(9)
    for n in range(30):
        triage(service, rng, f"c{n:02d}")
    escalate(service, "c04", 30)
    for case in ("c01", "c02", "c03"):
        entry = mongo_db.waitlist.find_one({"_id": case})
        slot = mongo_db.slots.find_one(
            {"state": "open", "kind": "intake", "hospital_id": {"$in": entry["eligible_hospitals"] or ["-"]}}
        )
        if slot:
            try:
                appt = booking.book(ctx, case, slot["_id"], by="it")
            except Conflict:
                continue
            if case == "c02":
                booking.cancel(ctx, appt["_id"], "family_request")  # back in the queue
    exact = +oracle_counts(mongo_db)
    assert +stored_counts(mongo_db) == exact and sum(exact.values()) > 20
    assert pressure_counts.repair(mongo_db) == 0  # with every move still pending
    assert pressure_counts.apply(mongo_db) > 20 and pressure_counts.apply(mongo_db) == 0
    assert +stored_counts(mongo_db) == exact and pressure_counts.repair(mongo_db) == 0
    mongo_db.pressure_counts.delete_many({})
    assert pressure_counts.repair(mongo_db) == len(exact)
    assert +stored_counts(mongo_db) == exact
    window_end = ctx.today() + timedelta(weeks=CONFIG.pressure_weeks)
    per_day = pressure_ops.capacity(ctx, [h.id for h in repo.hospitals(mongo_db)], window_end)
    scanned: Counter = Counter()
    for slot in mongo_db.slots.find({"kind": "intake", "state": {"$in": ["open", "held"]}}):
        if repo.aware(slot["start"]) >= ctx.now() and slot["day"] <= window_end.isoformat():
            scanned[(slot["hospital_id"], date.fromisoformat(slot["day"]))] += 1
    assert (
        Counter({(h, d): n for h, c in per_day.items() for d, n in Counter(c.open_days).items()}) == scanned
    )
    report = service.app.test_client().get("/v1/pressure", headers=auth()).json
    waiting = sum(r["waiting"] for r in report["hospitals"])
    assert waiting == sum(exact.values())


def test_concurrent_writers_lose_no_count_on_the_real_store(scheduling, mongo_db):
    """Forty families join one bucket, eight at once: each move is an insert, so none is lost.

    The first design had each writer ``$inc`` the counts itself; on FerretDB 1.24 the same
    five rounds of eight kept 19 of 40 increments.
    """
    _service, ctx = scheduling
    base = {
        "state": "waiting",
        "band": "P2",
        "score": 50,
        "referred_on": "2025-02-01",
        "target_date": "2025-03-03",
        "clinic_type": "school_refusal",
        "eligible_hospitals": ["bch"],
        "home_hospital": "bch",
        "constraints": {"home_district": "xicheng"},
    }
    for r in range(5):
        race(8, lambda k, r=r: entries.insert(ctx, {"_id": f"race-{r}-{k}", **base}), Conflict)
    bucket = (False, date(2025, 2, 1), date(2025, 3, 3))
    assert pressure_counts.read(mongo_db, ["bch"], ["P2"])["bch"]["P2"] == {bucket: 40}
    writer = duties.Lease()
    assert duties.count_step(ctx, writer) == {
        "moves": 40,
        "raises": 0,
        "backfilled": 0,
        "walks": 0,
        "repaired": 0,
    }
    assert mongo_db.pressure_counts.find_one({"_id": "bch|P2"})["buckets"] == {"n:2025-02-01:2025-03-03": 40}
    assert mongo_db.pressure_moves.count_documents({}) == 0
    assert mongo_db.waitlist.count_documents({"state": {"$in": list(QUEUED)}, "home_hospital": "bch"}) == 40


def test_walk_directory_backfill_and_repair_on_the_real_store(scheduling, mongo_db):
    """Unique-insert duplicates, ``$group`` by the bucket fields and the prune's re-read on FerretDB."""
    service, ctx = scheduling
    mongo_db.slots.update_many({}, {"$set": {"state": "closed"}})
    rng = random.Random(13)
    for _ in range(20):
        triage(service, rng, f"c-{rng.getrandbits(32):08x}")
    legacy = [d["_id"] for d in mongo_db.waitlist.find({"state": "waiting"}, {"_id": 1})][:5]
    mongo_db.waitlist.update_many({"_id": {"$in": legacy}}, {"$unset": dict.fromkeys(walks.FIELDS, "")})
    mongo_db[walks.DIRECTORY].delete_many({})
    assert entries.backfill_walks(ctx) == 5
    assert walks.repair(mongo_db, ctx.now())["listed"] > 0
    for sort, order in ORDERS.items():
        lanes = listing.lanes(["waiting"], ["P1", "P2", "P3", None], None)
        got = [d["_id"] for d in listing.page(mongo_db, sort, lanes, None, 100)[0]]
        want = sorted(
            mongo_db.waitlist.find({"state": "waiting"}), key=lambda d, o=order: o({**d, "id": d["_id"]})
        )
        assert got == [d["_id"] for d in want], sort
    assert walks.repair(mongo_db, ctx.now()) == {"listed": 0, "pruned": 0}
    for case in legacy:
        withdraw(service, case)
    assert walks.repair(mongo_db, ctx.now())["pruned"] > 0
    lanes = listing.lanes(["waiting", "removed"], ["P1", "P2", "P3", None], None)
    got = [d["_id"] for d in listing.page(mongo_db, "referred_on", lanes, None, 100)[0]]
    want = sorted(
        mongo_db.waitlist.find({"state": {"$in": ["waiting", "removed"]}}),
        key=lambda d: d["sort_keys"]["referred_on"],
    )
    assert got == [d["_id"] for d in want] and set(legacy) <= set(got)
