"""Waitlist, pressure, offer_slot and an idle outbox sweep at 1k, 10k and 100k waiting families: growth with size.

Scheduling runs as the stack serves it (gunicorn, shared/gunicorn_conf.py) on its own
database, with the demo region's hospitals, sessions and slots entered through its API.
The waitlist is then grown directly in the store (bulk inserts) with documents of the
real shape: templates are made by feeding ``assessment.triaged`` events to scheduling's
own handler on an in-memory store holding the same hospitals, then cloned under new case
ids (every string naming the case is rewritten; outbox entries get new event ids), so the
shape follows the code when it changes. Everything timed goes through public surfaces:

- GET /v1/waitlist (regional scheduler, defaults) and GET /v1/pressure;
- offer_slot, via the route that runs it: a guardian declines an offer
  (POST /v1/offer-responses/<token>/decline frees the slot and offers it to the next
  family region-wide); the offer is made first with POST /v1/waitlist/<id>/offer
  (offer_entry, timed too) and its token read from GET /v1/offers/<id>/link;
- an idle outbox sweep: the sweeper a worker builds (shared.runtime.Worker) over scheduling's
  outbox, run once after everything pending was published (to a null bus);
- one new family's ``assessment.triaged`` through scheduling's consumer handler, in this
  process (entry written, best slot found, offer made when one is free), with its store
  round trips counted (pymongo command monitoring) and printed per size.

Baseline: one pymongo ``find_one`` by ``_id`` on the same collection (the store's floor).
Each figure is the median of the repeats at that size (a call slower than 60 s is run
once); the growth exponent is the slope of log(time) over log(size) between sizes
(0 flat, 1 linear), and "last ÷ first" is the largest size's time over the smallest's.
Environment: BENCH_WAITLIST_SIZES (default 1000,10000,100000; quick 500,2000),
BENCH_WAITLIST_REPEATS (default 5; quick 3).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import statistics
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import mongomock
from pymongo import monitoring
from pymongo.database import Database

from bench._infra import Infra, bench_port, gunicorn, infra_or_skip, run_dir
from bench._table import growth_exponent, print_table
from services import demo
from services.scheduling import bootstrap as scheduling
from services.scheduling import entries, pressure_counts, walks
from services.scheduling.domain.geography import DISTRICT_CENTROIDS
from shared import outbox
from shared.auth import StaffTokens
from shared.events import Event, event_type
from shared.runtime import Worker
from shared.settings import KAFKA, Settings

SIZES, QUICK_SIZES = (1000, 10_000, 100_000), (500, 2000)
REPEATS, QUICK_REPEATS = 5, 3
TEMPLATES = 64
CLONES = random.Random(64)
CHUNK = 2000
SLOW_S = 60.0
HTTP_TIMEOUT_S = 900.0
FAILURES: list[str] = []
OPS = ("find_one by _id (baseline)", "GET /v1/waitlist", "GET /v1/pressure", "offer_entry: POST /v1/waitlist/<id>/offer",
       "offer_slot: POST /v1/offer-responses/<token>/decline", "idle outbox sweep",
       "triaged event: scheduling's handler")  # fmt: skip


class Commands(monitoring.CommandListener):
    """Counts the store commands sent while ``on``: the round trips of one handled event."""

    def __init__(self) -> None:
        self.on, self.count = False, 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.on:
            self.count += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


COMMANDS = Commands()


class NullBus:
    """A publisher that drops everything: the sweeper's own cost, not the broker's."""

    def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Any) -> None:
        pass

    def send_many(self, topic: str, records: Sequence[Any]) -> None:
        pass

    def close(self) -> None:
        pass


def http(method: str, url: str, token: str | None = None, body: Any = None) -> tuple[int, Any, float]:
    """(status, JSON body, seconds) with a timeout long enough for the slowest call measured here."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode() if body is not None else None, method=method
    )
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except OSError as exc:  # the server dropped the connection (a killed worker) or the timeout passed
        return 0, {"error": repr(exc)}, time.perf_counter() - started
    seconds = time.perf_counter() - started
    try:
        return status, json.loads(raw) if raw else None, seconds
    except ValueError:
        return status, {"error": raw[:300].decode("utf-8", "replace")}, seconds


def templates(hospitals: list[dict[str, Any]], count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Waiting entries made by scheduling's own triage handler on an in-memory store with these hospitals."""
    db = mongomock.MongoClient(tz_aware=True)["templates"]
    db.hospitals.insert_many(hospitals)
    service = scheduling.build(Settings(service="scheduling"), db=db, run_duties=False)
    handle = service.handlers["assessment.triaged"]
    districts = sorted(DISTRICT_CENTROIDS)
    today = date.today()
    made = []
    for n in range(count):
        band = rng.choices(["P1", "P2", "P3"], weights=[1, 3, 6])[0]
        constraints: dict[str, Any] = {
            "home_district": rng.choice(districts),
            "max_travel_km": rng.choice([None, 30, 50]),
        }
        if rng.random() < 0.2:
            constraints["weekdays"] = rng.sample(["mon", "tue", "wed", "thu", "fri"], 3)
        case_id = f"c-tpl{n:05d}{uuid.uuid4().hex[:12]}"
        data = {
            "case_id": case_id,
            "triage_version": 1,
            "band": band,
            "score": rng.randint(10, 95),
            "target_days": {"P1": 14, "P2": 30, "P3": 105}[band],
            "referred_on": (today - timedelta(days=rng.randint(0, 120))).isoformat(),
            "clinic_type": "school_refusal",
            "constraints": constraints,
        }
        handle(Event(event_type("assessment.triaged"), "/services/assessment", case_id, data))
        doc = db.waitlist.find_one({"_id": case_id})
        if doc is None or doc.get("state") != "waiting":
            raise RuntimeError(
                f"the triage handler did not leave {case_id} waiting: {doc and doc.get('state')}"
            )
        made.append(doc)
    return made


def clone(template: dict[str, Any], case_id: str, age: timedelta, rng: random.Random) -> dict[str, Any]:
    """The template under a new case id and a referral date, score and instants of its own.

    Moving the instants and the referral date spreads the seeded entries over past weeks, and a
    fresh score over the band's range, as a real waitlist's are (64 templates cloned as they were
    would put every family on one of 64 (referral date, score) pairs).
    """
    old = template["_id"]

    def rewrite(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(old, case_id)
        if isinstance(value, datetime):
            return value - age
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        return value

    doc = rewrite(template)
    for entry in doc.get(outbox.FIELD, []):
        entry["id"] = uuid.uuid4().hex
    referred = date.today() - timedelta(days=rng.randint(0, 120))
    doc["referred_on"] = referred.isoformat()
    doc["target_date"] = (referred + timedelta(days=int(doc.get("target_days") or 30))).isoformat()
    doc["score"] = rng.randint(10, 95)
    doc.update(entries.derived(doc))  # sort keys, counts bucket and walk buckets of the new values
    return doc


def grow(db: Database, made: list[dict[str, Any]], target: int, ids: list[str]) -> float:
    """Insert clones until the waitlist holds ``target`` seeded entries; returns documents/s."""
    started, added = time.perf_counter(), 0
    while len(ids) < target:
        batch = []
        for _ in range(min(CHUNK, target - len(ids))):
            case_id = "c-" + uuid.uuid4().hex[:20]
            age = timedelta(days=1 + random.random() * 120)
            batch.append(clone(made[len(ids) % len(made)], case_id, age, CLONES))
            ids.append(case_id)
        db.waitlist.insert_many(batch, ordered=False)
        added += len(batch)
    return added / (time.perf_counter() - started) if added else 0.0


class Offers:
    """Waiting families to offer to (and decline), taken at random from the seeded ones."""

    def __init__(self, url: str, scheduler: str, ids: list[str], rng: random.Random) -> None:
        self.url, self.scheduler, self.ids, self.rng = url, scheduler, ids, rng
        self.used: set[str] = set()

    def offer(self) -> tuple[float, str]:
        """Make an offer to some waiting family; (seconds the offer route took, the guardian's token)."""
        for _ in range(50):
            case_id = self.rng.choice(self.ids)
            if case_id in self.used:
                continue
            self.used.add(case_id)
            status, body, seconds = http(
                "POST", f"{self.url}/v1/waitlist/{case_id}/offer", self.scheduler, {}
            )
            if status == 201:
                _, link, _ = http("GET", f"{self.url}/v1/offers/{body['id']}/link", self.scheduler)
                return seconds, link["url"].rsplit("/", 1)[-1]
            if status != 409:
                raise RuntimeError(f"offer for {case_id}: {status} {body}")
        raise RuntimeError("no waiting family could be offered a slot in 50 tries (out of slots?)")

    def decline(self, token: str) -> float:
        status, body, seconds = http("POST", f"{self.url}/v1/offer-responses/{token}/decline")
        if status != 200:
            raise RuntimeError(f"decline: {status} {body}")
        return seconds


def measure(
    size: int,
    repeats: int,
    db: Database,
    url: str,
    scheduler: str,
    sweeper: Any,
    offers: Offers,
    ids: list[str],
    triage: Any,
) -> dict[str, list[float]]:
    """Seconds per call for each operation at this size; a failed or very slow call is not repeated."""
    times: dict[str, list[float]] = {op: [] for op in OPS}
    slow: set[str] = set()
    trips: list[int] = []

    def record(op: str, seconds: float) -> None:
        times[op].append(seconds)
        if seconds > SLOW_S:
            slow.add(op)

    def checked(op: str, path: str) -> None:
        status, body, seconds = http("GET", f"{url}{path}", scheduler)
        record(op, seconds)
        if status != 200:
            slow.add(op)
            FAILURES.append(
                f"{size:,}: GET {path} answered {status} after {seconds:.1f} s: {str(body)[:200]}"
            )

    while sweeper.run_once():  # publish what is pending (earlier offers' events)
        pass
    for _ in range(repeats):
        started = time.perf_counter()
        db.waitlist.find_one({"_id": random.choice(ids)})
        record(OPS[0], time.perf_counter() - started)
        if OPS[1] not in slow:
            checked(OPS[1], "/v1/waitlist")
        if OPS[2] not in slow:
            checked(OPS[2], "/v1/pressure")
        if OPS[4] not in slow:
            try:
                seconds, token = offers.offer()
                record(OPS[3], seconds)
                record(OPS[4], offers.decline(token))
            except RuntimeError as exc:  # e.g. a worker killed mid-request: note it, measure the rest
                slow.update(OPS[3:5])
                FAILURES.append(f"{size:,}: {exc}"[:300])
        if OPS[5] not in slow:
            while sweeper.run_once():  # the offers just made and declined
                pass
            started = time.perf_counter()
            if sweeper.run_once():
                raise RuntimeError("the sweep was not idle")
            record(OPS[5], time.perf_counter() - started)
        COMMANDS.count, COMMANDS.on = 0, True
        started = time.perf_counter()
        triage()
        record(OPS[6], time.perf_counter() - started)
        COMMANDS.on = False
        trips.append(COMMANDS.count)
    print(
        f"  {size:,} waiting: "
        + ", ".join(
            f"{op.split(':')[0]} {statistics.median(t) * 1000:,.0f} ms" for op, t in times.items() if t
        ),
        flush=True,
    )
    print(
        f"  {size:,} waiting: store round trips per triaged event {statistics.median(trips):.0f}", flush=True
    )
    return times


def main(quick: bool = False) -> None:
    infra = infra_or_skip("waitlist_scale")
    if infra is None:
        return
    sizes = [int(s) for s in os.environ.get("BENCH_WAITLIST_SIZES", ",".join(map(str, QUICK_SIZES if quick else SIZES))).split(",") if s]  # fmt: skip
    repeats = int(os.environ.get("BENCH_WAITLIST_REPEATS", QUICK_REPEATS if quick else REPEATS))
    results: dict[int, dict[str, list[float]]] = {}
    name = f"bench_waitlist_{uuid.uuid4().hex[:8]}"
    monitoring.register(COMMANDS)  # before any client exists
    client = infra.mongo()
    try:
        with _scheduling(infra, name) as url:
            db = client[name]
            tokens = StaffTokens(Settings.from_env("scheduling").staff_token_secret)
            scheduler = tokens.issue("bench", "scheduler")
            demo.seed_hospitals(url, scheduler)
            rng = random.Random(2025)
            made = templates(list(db.hospitals.find()), TEMPLATES, rng)
            sweeper, service = _sweeper(infra, name)
            triage = _triage(service.handlers["assessment.triaged"], rng)
            ids: list[str] = []
            offers = Offers(url, scheduler, ids, rng)
            for size in sorted(sizes):
                rate = grow(db, made, size, ids)
                pressure_counts.repair(db)  # the clones bypassed the writers: count them, as the worker would
                walks.repair(db, datetime.now(UTC), prune=False)  # and list their buckets, as it would
                print(f"  seeded {size:,} waiting entries ({rate:,.0f} documents/s)", flush=True)
                results[size] = measure(size, repeats, db, url, scheduler, sweeper, offers, ids, triage)
    finally:
        client.drop_database(name)
        client.close()
    _report(results)


def _scheduling(infra: Infra, database: str) -> AbstractContextManager[str]:
    metrics = run_dir() / f"scheduling-metrics-{database}"
    metrics.mkdir(parents=True, exist_ok=True)
    env = {**infra.env(), "SCHEDULING_DB": database, "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    return gunicorn("bench-scheduling", "services.scheduling.wsgi:app", bench_port(0), env)


def _sweeper(infra: Infra, database: str) -> Any:
    """The outbox sweeper exactly as a scheduling worker builds it, publishing to nowhere (no grace)."""
    settings = Settings.from_env("scheduling").but(
        mode=KAFKA, mongo_uri=infra.mongo_uri, mongo_db=database, outbox_grace_s=0.0
    )
    service = scheduling.build(settings, run_duties=False)
    sweeper = Worker(service, NullBus(), None).sweeper
    assert sweeper is not None
    sweeper.ensure_index()
    return sweeper, service


def _triage(handle: Any, rng: random.Random) -> Any:
    """One new family's ``assessment.triaged`` through scheduling's consumer handler (waitlisted, maybe offered)."""

    def run() -> None:
        case_id = "c-" + uuid.uuid4().hex[:20]
        band = rng.choice(["P1", "P2", "P3"])
        data = {
            "case_id": case_id,
            "triage_version": 1,
            "band": band,
            "score": rng.randint(10, 95),
            "target_days": {"P1": 14, "P2": 30, "P3": 105}[band],
            "referred_on": date.today().isoformat(),
            "clinic_type": "school_refusal",
            "constraints": {"home_district": rng.choice(sorted(DISTRICT_CENTROIDS))},
        }
        handle(Event(event_type("assessment.triaged"), "/services/assessment", case_id, data))

    return run


def _report(results: dict[int, dict[str, list[float]]]) -> None:
    sizes = sorted(results)
    pairs = list(itertools.pairwise(sizes))
    headers = ["operation", *[f"{s:,} ms" for s in sizes], "runs", *[f"exp {a:,}→{b:,}" for a, b in pairs]]
    headers.append("last ÷ first")
    rows = []
    for op in OPS:
        median = {s: statistics.median(results[s][op]) if results[s][op] else float("nan") for s in sizes}
        exps = [growth_exponent(a, median[a], b, median[b]) for a, b in pairs]
        last = f"{median[sizes[-1]] / median[sizes[0]]:,.1f}x" if median[sizes[0]] and len(sizes) > 1 else "-"
        runs = "/".join(str(len(results[s][op])) for s in sizes)
        rows.append([op, *[median[s] * 1000 for s in sizes], runs, *[f"{e:.2f}" for e in exps], last])
    print(
        f"waiting entries seeded per size; runs = calls per size (a call over {SLOW_S:.0f} s or failing is not repeated)"
    )
    print_table(headers, rows)
    for failure in FAILURES:
        print(f"  FAILED {failure}")
