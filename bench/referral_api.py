"""The referral API under gunicorn vs bare Flask + one pymongo call, same gunicorn config, same store; wrk load.

Real: ``services.referral.wsgi:app`` as the stack serves it (shared/gunicorn_conf.py,
its default worker and thread counts unless GUNICORN_WORKERS/THREADS say otherwise),
schools' keys issued through its operator route. POST sends a different synthetic
child every request (so no referral is linked to an open case), with and without an
Idempotency-Key; GET reads cases created beforehand, each with its school's key.
Baseline: bench/_bare_app.py, one insert_one per POST and one find_one per GET.
The rate limit is raised for the run (REFERRAL_RATE_LIMIT_PER_MINUTE) so it counts
requests but never refuses one: wrk would otherwise measure 429s.

Closed loop (wrk keeps CONNECTIONS requests in flight); rounds alternate real and bare;
each figure is the median over the rounds of 2xx answers per second; ratio = real ÷ bare.
All GET rounds run before any POST round, so both read collections of the same size.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import uuid
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from bench import _wrk
from bench._infra import Infra, bench_port, gunicorn, infra_or_skip, run_dir
from bench._table import print_table, ratio
from services import demo
from services.client import ok
from shared.auth import StaffTokens
from shared.settings import Settings

ROUNDS, SECONDS = 5, 10.0
QUICK_ROUNDS, QUICK_SECONDS = 3, 3.0
CONNECTIONS = 16
SCHOOLS = 12
READ_SET = 100
RATE_LIMIT = 1_000_000_000


def referral_body(n: int) -> dict:
    """A valid synthetic referral whose child is unique per request (``__UNIQUE__`` in the name)."""
    body = demo.synthetic_referral(random.Random(n), date.today(), "haidian", n)
    body["student"]["name"] = f"Bench Child {_wrk.UNIQUE}"
    return body


def school_keys(url: str, count: int) -> list[str]:
    """Keys issued by the service's own operator route, as ``waymark school-key create`` does."""
    operator = StaffTokens(Settings.from_env("referral").staff_token_secret).issue("bench", "operator")
    return [
        ok(
            "POST",
            f"{url}/admin/v1/school-keys",
            operator,
            {"school_id": f"bench-school-{i}", "name": f"Bench {i}"},
        )["key"]
        for i in range(count)
    ]


def post_specs(keys: Sequence[str], idempotent: bool) -> list[_wrk.Spec]:
    specs = []
    for i, key in enumerate(keys):
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        if idempotent:
            headers["Idempotency-Key"] = f"bench-{_wrk.UNIQUE}"
        specs.append(_wrk.Spec("POST", "/v1/referrals", headers, json.dumps(referral_body(i))))
    return specs


def seed_reads(url: str, keys: Sequence[str], count: int) -> list[_wrk.Spec]:
    """Create ``count`` cases one by one and return a GET spec for each (with its owner's key)."""
    specs = []
    for i in range(count):
        key = keys[i % len(keys)]
        body = referral_body(10_000 + i)
        body["student"]["name"] = f"Bench Reader {uuid.uuid4().hex[:12]}"
        case_id = ok("POST", f"{url}/v1/referrals", key, body)["case_id"]
        specs.append(_wrk.Spec("GET", f"/v1/referrals/{case_id}", {"Authorization": f"Bearer {key}"}))
    return specs


def measure(
    label: str, runs: dict[str, list[_wrk.Result]], name: str, load: Callable[[], _wrk.Result]
) -> None:
    result = load()
    runs.setdefault(name, []).append(result)
    note = (
        f", {result.failed} failed {dict((k, v) for k, v in result.errors.items() if v)}"
        if result.failed
        else ""
    )
    print(f"  {label} {name}: {result.ok_per_s:,.1f} req/s, p99 {result.p99_ms:,.0f} ms{note}", flush=True)


def main(quick: bool = False) -> None:
    infra = infra_or_skip("referral_api")
    if infra is None or _wrk.require() is None:
        return
    rounds, seconds = (QUICK_ROUNDS, QUICK_SECONDS) if quick else (ROUNDS, SECONDS)
    client = infra.mongo()
    tag = uuid.uuid4().hex[:8]
    real_db, bare_db = f"bench_referral_{tag}", f"bench_bare_{tag}"
    try:
        with _servers(infra, real_db, bare_db) as (real, bare):
            runs = _load(real, bare, rounds, seconds)
    finally:
        client.drop_database(real_db)
        client.drop_database(bare_db)
        client.close()
    _report(runs, rounds, seconds)


class _servers:
    """Both servers up side by side for the whole run (context manager yielding their URLs)."""

    def __init__(self, infra: Infra, real_db: str, bare_db: str) -> None:
        metrics = run_dir() / f"referral-metrics-{real_db}"
        metrics.mkdir(parents=True, exist_ok=True)
        self._real = gunicorn(
            "bench-referral",
            "services.referral.wsgi:app",
            bench_port(0),
            {
                **infra.env(),
                "REFERRAL_DB": real_db,
                "REFERRAL_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
                "PROMETHEUS_MULTIPROC_DIR": str(metrics),
            },
        )
        self._bare = gunicorn(
            "bench-bare", "bench._bare_app:app", bench_port(1), {**infra.env(), "BENCH_BARE_DB": bare_db}
        )
        self._metrics = metrics

    def __enter__(self) -> tuple[str, str]:
        real = self._real.__enter__()
        try:
            bare = self._bare.__enter__()
        except BaseException:
            self._real.__exit__(None, None, None)
            raise
        return real, bare

    def __exit__(self, *exc: object) -> None:
        try:
            self._bare.__exit__(*exc)
        finally:
            self._real.__exit__(*exc)
            _remove_tree(self._metrics)


def _remove_tree(path: Path) -> None:
    for child in path.glob("*"):
        child.unlink(missing_ok=True)
    path.rmdir()


def _load(real: str, bare: str, rounds: int, seconds: float) -> dict[str, list[_wrk.Result]]:
    keys = school_keys(real, SCHOOLS)
    bare_specs = [
        _wrk.Spec("POST", "/v1/referrals", {"Content-Type": "application/json"}, s.body)
        for s in post_specs(keys, False)
    ]
    real_reads = seed_reads(real, keys, READ_SET)
    bare_reads = [
        _wrk.Spec(
            "GET",
            f"/v1/referrals/{ok('POST', f'{bare}/v1/referrals', None, referral_body(i))['case_id']}",
            {},
        )
        for i in range(READ_SET)
    ]
    runs: dict[str, list[_wrk.Result]] = {}
    for r in range(rounds):
        label = f"round {r + 1}/{rounds}"
        measure(label, runs, "GET bare", lambda: _wrk.run(bare, bare_reads, seconds, CONNECTIONS))
        measure(label, runs, "GET real", lambda: _wrk.run(real, real_reads, seconds, CONNECTIONS))
    for r in range(rounds):
        label = f"round {r + 1}/{rounds}"
        measure(label, runs, "POST bare", lambda: _wrk.run(bare, bare_specs, seconds, CONNECTIONS))
        measure(
            label, runs, "POST real", lambda: _wrk.run(real, post_specs(keys, False), seconds, CONNECTIONS)
        )
        measure(
            label, runs, "POST real+key", lambda: _wrk.run(real, post_specs(keys, True), seconds, CONNECTIONS)
        )
    return runs


def _report(runs: dict[str, list[_wrk.Result]], rounds: int, seconds: float) -> None:
    def med(name: str) -> float:
        return statistics.median(r.ok_per_s for r in runs[name])

    def p99(name: str) -> float:
        return statistics.median(r.p99_ms for r in runs[name])

    def failed(name: str) -> int:
        return sum(r.failed for r in runs[name])

    def created(name: str) -> str:
        if not name.startswith("POST"):
            return "-"
        total = sum(r.requests for r in runs[name])
        return f"{100 * sum(r.created for r in runs[name]) / total:.0f}%" if total else "-"

    rows = []
    for real, bare, what in (
        ("POST real", "POST bare", "POST /v1/referrals (new child, no Idempotency-Key)"),
        ("POST real+key", "POST bare", "POST /v1/referrals (new child, Idempotency-Key)"),
        ("GET real", "GET bare", "GET /v1/referrals/<id>"),
    ):
        rows.append([f"bare Flask + one {'insert_one' if bare.startswith('POST') else 'find_one'} (baseline)",
                     med(bare), p99(bare), failed(bare), created(bare), "1.000x"])  # fmt: skip
        rows.append(
            [
                f"referral: {what}",
                med(real),
                p99(real),
                failed(real),
                created(real),
                ratio(med(real), med(bare)),
            ]
        )
    workers, threads = os.environ.get("GUNICORN_WORKERS", "2"), os.environ.get("GUNICORN_THREADS", "4")
    print(
        f"wrk: {CONNECTIONS} connections, {rounds} rounds x {seconds:.0f} s each; "
        f"gunicorn gthread {workers} workers x {threads} threads for both"
    )
    print_table(["path", "median req/s (2xx)", "median p99 ms", "failed", "201s", "vs baseline"], rows)
