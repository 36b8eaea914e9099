"""The benchmarks' own arithmetic and plumbing: a wrong percentile or parser would print wrong figures."""

from __future__ import annotations

import math
import random
import threading
from datetime import UTC, datetime, timedelta

import mongomock
import pytest

from bench import _wrk, latency, waitlist_scale
from bench._table import growth_exponent, percentile, ratio
from services.scheduling.domain.geography import DISTRICT_CENTROIDS
from services.scheduling.seed import HOSPITALS
from shared import outbox


def test_percentile_is_nearest_rank_and_keeps_unfinished_samples():
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile([1.0, 2.0, math.inf], 50) == 2.0
    assert math.isinf(percentile([1.0, math.inf], 99))
    assert math.isnan(percentile([], 50))


def test_growth_exponent_reads_linear_and_quadratic_growth():
    assert growth_exponent(1000, 1.0, 10_000, 10.0) == pytest.approx(1.0)
    assert growth_exponent(1000, 1.0, 10_000, 100.0) == pytest.approx(2.0)
    assert growth_exponent(1000, 2.0, 100_000, 2.0) == pytest.approx(0.0)
    assert math.isnan(growth_exponent(1000, 0.0, 10_000, 1.0))


def test_ratio():
    assert ratio(19.6, 476) == "0.041x"
    assert ratio(1.0, 0.0) == "-"


def test_wrk_summary_counts_only_successful_requests_as_throughput():
    line = (
        'WRKJSON {"requests":200,"duration_us":2000000,"connect":0,"read":0,"write":0,"status":50,'
        '"timeout":1,"p50_us":1500,"p99_us":9000,"created":150}'
    )
    result = _wrk.parse(f"Running 2s test\n{line}\nRequests/sec: 100\n")
    assert result.ok_per_s == 75.0
    assert result.failed == 51
    assert (result.p50_ms, result.p99_ms, result.created) == (1.5, 9.0, 150)
    with pytest.raises(RuntimeError):
        _wrk.parse("Requests/sec: 100\n")


def test_wrk_script_embeds_specs_as_lua_long_strings():
    spec = _wrk.Spec("POST", "/v1/referrals", {"Idempotency-Key": f"k-{_wrk.UNIQUE}"}, '{"name": "a"}')
    script = _wrk.lua([spec], "nonce1")
    assert "[ [==[Idempotency-Key]==] ] = [==[k-__UNIQUE__]==]" in script
    assert 'body = [==[{"name": "a"}]==]' in script
    with pytest.raises(ValueError):
        _wrk.lua([_wrk.Spec("GET", "/]==]", {})], "n")


def test_open_loop_stops_sending_when_the_server_falls_behind(monkeypatch):
    monkeypatch.setattr(latency, "BACKLOG_S", 0.01)  # a backlog cap of 20 requests
    release = threading.Event()

    def stuck(_i: int) -> tuple[int, str]:
        release.wait(5)
        return 201, "c-1"

    timer = threading.Timer(1.0, release.set)
    timer.start()
    outcome = latency.open_loop(200, 2, stuck)
    timer.cancel()
    assert len(outcome.samples) == 20
    assert outcome.stopped_at is not None and outcome.stopped_at < 0.5
    assert outcome.answered_rate() < 40  # 20 answers after a one-second stall, not 200/s


def test_open_loop_keeps_its_schedule():
    outcome = latency.open_loop(100, 0.2, lambda i: (201, f"c-{i}"))
    assert len(outcome.created) == 20 and outcome.stopped_at is None
    assert 50 < outcome.answered_rate() < 110
    gaps = [b.due - a.due for a, b in zip(outcome.samples, outcome.samples[1:], strict=False)]
    assert all(g == pytest.approx(0.01) for g in gaps)


def test_waitlist_templates_come_from_the_real_handler_and_clone_under_new_ids():
    hospitals = [
        {"_id": h["id"], **{k: v for k, v in h.items() if k != "id"}, "lat": lat, "lon": lon}
        for h in HOSPITALS
        for lat, lon in [DISTRICT_CENTROIDS[h["district"]]]
    ]
    made = waitlist_scale.templates(hospitals, 3, random.Random(1))
    assert {d["state"] for d in made} == {"waiting"}
    template = made[0]
    copy = waitlist_scale.clone(template, "c-new", timedelta(days=10), random.Random(2))
    assert copy["_id"] == "c-new"
    assert template["_id"] not in repr(copy)
    old_ids = {e["id"] for e in template.get(outbox.FIELD, [])}
    assert old_ids and not old_ids & {e["id"] for e in copy[outbox.FIELD]}
    stamped = [k for k, v in template.items() if isinstance(v, datetime)]
    assert stamped and all(copy[k] == template[k] - timedelta(days=10) for k in stamped)
    db = mongomock.MongoClient(tz_aware=True)["grow"]
    ids: list[str] = []
    waitlist_scale.grow(db, made, 7, ids)
    assert db.waitlist.count_documents({"state": "waiting"}) == 7 == len(set(ids))
    assert all(isinstance(d["created_at"], datetime) for d in db.waitlist.find())
    assert datetime.now(UTC) - max(db.waitlist.find_one({"_id": i})["created_at"] for i in ids) > timedelta(
        hours=23
    )
