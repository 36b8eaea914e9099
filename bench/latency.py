"""Referral → triaged → waitlisted latency at fixed open-loop rates on the stack; consumer lag afterwards.

The stack is deploy/stack.sh (gunicorn API + worker per service) on fresh ``bench_*``
databases, with the demo region's hospitals and slots entered through scheduling's API
and school keys issued through referral's operator route. Referrals are POSTed open
loop: request i is due at i/rate seconds whatever the earlier ones did, and the POST
latency counts from that due time (no coordinated omission). A Kafka consumer on the
assessment and scheduling topics (no polling of the services) notes when each case's
``assessment.triaged`` and ``waitlist.entry_added`` arrive; latencies count from the 201.
After each rate: how long until every case was waitlisted and every consumer group's lag
was 0 again (bounded by the drain time). If the stack did not drain, the higher rates are
skipped (their figures would measure the backlog).

Baseline: raw kafka-python, three hops (produce → consume-and-forward twice → consume,
acks=all like the relay) at the same open-loop rate for up to 15 s: the floor under the
pipeline's three hops (referral → assessment → scheduling → observer). Ratio = waitlisted
p99 ÷ raw p99.

Environment: BENCH_LATENCY_RATES (default 1,10,50,200), BENCH_LATENCY_SECONDS (60; quick 10),
BENCH_LATENCY_DRAIN_S (120; quick 30), BENCH_LATENCY_KEEP_GOING=1 (run every rate anyway).
The referral rate limit is raised for the run (REFERRAL_RATE_LIMIT_PER_MINUTE): the
measured load comes from 12 schools, far above what 120 a minute each allows.
"""

from __future__ import annotations

import http.client
import itertools
import json
import math
import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlsplit

from kafka import KafkaConsumer, KafkaProducer

from bench import _stack
from bench._infra import Infra, create_topics, infra_or_skip, partitions
from bench._table import percentile, print_table
from services import demo
from services.client import ok
from shared import topics
from shared.auth import StaffTokens
from shared.events import EnvelopeError, from_kafka
from shared.settings import Settings

RATES = (1, 10, 50, 200)
SECONDS, QUICK_SECONDS = 60.0, 10.0
DRAIN_S, QUICK_DRAIN_S = 120.0, 30.0
BASELINE_SECONDS = 15.0
MAX_IN_FLIGHT = 256
BACKLOG_S = 10.0
"""Stop sending once this many seconds' worth of requests are waiting for an answer: the API is not keeping up."""
SCHOOLS = 12
TRIAGED, WAITLISTED = "assessment.triaged", "waitlist.entry_added"
PLACEHOLDER = "__BENCH_CHILD__"


@dataclass
class Sample:
    due: float
    answered: float = math.nan
    status: int = 0
    detail: str = ""
    """The case id on a 201, else what went wrong."""

    @property
    def case_id(self) -> str | None:
        return self.detail if self.status == 201 else None


@dataclass
class Outcome:
    rate: float
    samples: list[Sample] = field(default_factory=list)
    stopped_at: float | None = None
    """Seconds into the run when sending stopped because the API fell behind (None: ran in full)."""
    triaged: dict[str, float] = field(default_factory=dict)
    waitlisted: dict[str, float] = field(default_factory=dict)
    drained_after: float | None = None
    lag_after: dict[str, int] = field(default_factory=dict)
    raw: list[float] = field(default_factory=list)

    @property
    def created(self) -> list[Sample]:
        return [s for s in self.samples if s.status == 201 and s.case_id]

    def answered_rate(self) -> float:
        """201s per second from the first request's due time to the last 201: what the API sustained."""
        created = self.created
        if not created:
            return 0.0
        span = max(s.answered for s in created) - min(s.due for s in self.samples)
        return len(created) / span if span > 0 else 0.0


class Watcher:
    """Notes the arrival time of each case's triaged and waitlisted events, reading from the log's end."""

    def __init__(self, bootstrap: str) -> None:
        self.seen: dict[str, dict[str, float]] = {TRIAGED: {}, WAITLISTED: {}}
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), client_id="bench-watcher")
        wanted = [topics.events("assessment"), topics.events("scheduling")]
        create_topics(bootstrap, wanted)
        assigned = [tp for t in wanted for tp in partitions(self._consumer, t)]
        self._consumer.assign(assigned)
        self._consumer.seek_to_end()
        for tp in assigned:
            self._consumer.position(tp)  # resolve now: only events after this point count
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="bench-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for records in self._consumer.poll(200).values():
                now = time.perf_counter()
                for record in records:
                    try:
                        event = from_kafka(record.value, list(record.headers or []))
                    except EnvelopeError:
                        continue
                    if event.name in self.seen:
                        case_id = str(event.data.get("case_id") or event.subject)
                        with self._lock:
                            self.seen[event.name].setdefault(case_id, now)

    def get(self, name: str, case_ids: Sequence[str]) -> dict[str, float]:
        with self._lock:
            return {c: self.seen[name][c] for c in case_ids if c in self.seen[name]}

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._consumer.close()


class Referrals:
    """POSTs synthetic referrals (a new child each) over keep-alive connections, one per sending thread."""

    def __init__(self, url: str, keys: Sequence[str]) -> None:
        self._host = urlsplit(url).netloc
        self._keys = list(keys)
        rng = random.Random(7)
        self._bodies = []
        for n, (_school, _name, district) in enumerate(demo.SCHOOLS[: len(keys)]):
            body = demo.synthetic_referral(rng, date.today(), district, n)
            body["student"]["name"] = PLACEHOLDER
            self._bodies.append(json.dumps(body))
        self._nonce = uuid.uuid4().hex[:8]
        self._numbers = itertools.count()

    def post(self, _i: int) -> tuple[int, str]:
        """(status, case id on 201 else the start of the answer); a new connection each, never retried."""
        n = next(self._numbers)  # unique across runs: a repeated child would be linked, not opened
        school = n % len(self._keys)
        body = self._bodies[school].replace(PLACEHOLDER, f"Bench Child {self._nonce}-{n}")
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self._keys[school]}"}
        conn = http.client.HTTPConnection(self._host, timeout=60)
        try:
            conn.request("POST", "/v1/referrals", body, headers)
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return 0, repr(exc)[:200]
        finally:
            conn.close()
        if response.status == 201:
            return 201, json.loads(payload)["case_id"]
        return response.status, payload[:200].decode("utf-8", "replace")


def open_loop(rate: float, seconds: float, send: Callable[[int], tuple[int, str]]) -> Outcome:
    """Send ``rate``/s for ``seconds`` at fixed due times, each on a pool thread; never wait for answers."""
    outcome = Outcome(rate)
    pending = 0
    lock = threading.Lock()
    cap = max(20, int(rate * BACKLOG_S))

    def one(i: int, sample: Sample) -> None:
        nonlocal pending
        try:
            sample.status, sample.detail = send(i)
        finally:
            sample.answered = time.perf_counter()
            with lock:
                pending -= 1

    with ThreadPoolExecutor(MAX_IN_FLIGHT, thread_name_prefix="bench-post") as pool:
        start = time.perf_counter() + 0.05
        for i in range(int(rate * seconds)):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            with lock:
                if pending >= cap:
                    outcome.stopped_at = due - start
                    break
                pending += 1
            sample = Sample(due)
            outcome.samples.append(sample)
            pool.submit(one, i, sample)
    return outcome


def drain(infra: Infra, watcher: Watcher, outcome: Outcome, deadline_s: float) -> None:
    """Wait until every created case is waitlisted and every group's lag is 0, or the deadline passes."""
    created = [s.case_id for s in outcome.created if s.case_id]
    started = time.perf_counter()
    while True:
        outcome.waitlisted = watcher.get(WAITLISTED, created)
        if len(outcome.waitlisted) == len(created):
            outcome.lag_after = _stack.lag(infra.bootstrap)
            if not any(outcome.lag_after.values()):
                outcome.drained_after = time.perf_counter() - started
                break
        if time.perf_counter() - started > deadline_s:
            outcome.lag_after = _stack.lag(infra.bootstrap)
            break
        time.sleep(0.5)
    outcome.triaged = watcher.get(TRIAGED, created)


def raw_three_hops(infra: Infra, rate: float, seconds: float) -> list[float]:
    """Open-loop produce → forward → forward → consume on raw kafka-python; per-message latency."""
    tag = uuid.uuid4().hex[:8]
    hops = [f"bench.hop{i}.{tag}" for i in range(4)]
    create_topics(infra.bootstrap, hops)
    stop = threading.Event()
    arrived: dict[int, float] = {}
    threads, clients = [], []

    def consumer(topic: str) -> KafkaConsumer:
        """Assigned every partition from the start: no group join in the way of the hop."""
        c = KafkaConsumer(bootstrap_servers=infra.bootstrap)
        c.assign(partitions(c, topic))
        c.seek_to_beginning()
        clients.append(c)
        return c

    def forward(source: str, target: str) -> None:
        c, p = consumer(source), KafkaProducer(bootstrap_servers=infra.bootstrap, acks="all", linger_ms=2)
        clients.append(p)
        while not stop.is_set():
            for records in c.poll(200).values():
                for r in records:
                    p.send(target, key=r.key, value=r.value)

    def observe(source: str) -> None:
        c = consumer(source)
        while not stop.is_set():
            for records in c.poll(200).values():
                now = time.perf_counter()
                for r in records:
                    arrived.setdefault(int(r.key), now)

    for target in (
        lambda: forward(hops[0], hops[1]),
        lambda: forward(hops[1], hops[2]),
        lambda: observe(hops[2]),
    ):
        threads.append(threading.Thread(target=target, daemon=True))
        threads[-1].start()
    producer = KafkaProducer(bootstrap_servers=infra.bootstrap, acks="all", linger_ms=2)
    try:
        producer.send(hops[0], key=b"-1", value=b"warm")
        producer.flush()
        _until(lambda: -1 in arrived, 120, "raw three-hop warm-up")
        sent: dict[int, float] = {}

        def send(i: int) -> tuple[int, str]:
            sent[i] = time.perf_counter()
            producer.send(hops[0], key=str(i).encode(), value=b"x" * 600)
            return 201, str(i)

        open_loop(rate, seconds, send)
        producer.flush()
        _until(lambda: all(i in arrived for i in sent), 60, "raw three-hop")
        return [arrived[i] - sent[i] for i in sent]
    finally:
        stop.set()
        for t in threads:
            t.join(5)
        producer.close()
        for c in clients:
            c.close()


def _until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.perf_counter() + timeout_s
    while not check():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{what}: not done after {timeout_s:.0f} s")
        time.sleep(0.05)


def setup(urls: dict[str, str]) -> list[str]:
    """The demo region's hospitals and slots (scheduling API), and school keys (referral operator route)."""
    tokens = StaffTokens(Settings.from_env("referral").staff_token_secret)
    demo.seed_hospitals(urls["scheduling"], tokens.issue("bench", "scheduler"))
    operator = tokens.issue("bench", "operator")
    return [
        ok("POST", f"{urls['referral']}/admin/v1/school-keys", operator, {"school_id": s, "name": n})["key"]
        for s, n, _ in demo.SCHOOLS[:SCHOOLS]
    ]


def main(quick: bool = False) -> None:
    infra = infra_or_skip("latency")
    if infra is None:
        return
    rates = [
        float(r) for r in os.environ.get("BENCH_LATENCY_RATES", ",".join(map(str, RATES))).split(",") if r
    ]
    seconds = float(os.environ.get("BENCH_LATENCY_SECONDS", QUICK_SECONDS if quick else SECONDS))
    drain_s = float(os.environ.get("BENCH_LATENCY_DRAIN_S", QUICK_DRAIN_S if quick else DRAIN_S))
    keep_going = os.environ.get("BENCH_LATENCY_KEEP_GOING") == "1"
    env = {"REFERRAL_RATE_LIMIT_PER_MINUTE": "1000000000", "NOTIFICATION_EMAIL_TRANSPORT": "log"}
    outcomes: list[Outcome] = []
    skipped: list[float] = []
    with _stack.running(infra, env) as urls:
        referrals = Referrals(urls["referral"], setup(urls))
        watcher = Watcher(infra.bootstrap)
        try:
            warm = open_loop(1, 2, referrals.post)
            drain(infra, watcher, warm, 180)
            if len(warm.waitlisted) < len(warm.created) or not warm.created:
                raise RuntimeError(
                    f"warm-up: {len(warm.waitlisted)} of {len(warm.created)} referrals waitlisted"
                )
            for rate in rates:
                if skipped or (outcomes and outcomes[-1].drained_after is None and not keep_going):
                    skipped.append(rate)
                    continue
                outcome = open_loop(rate, seconds, referrals.post)
                drain(infra, watcher, outcome, drain_s)
                outcome.raw = raw_three_hops(infra, rate, min(seconds, BASELINE_SECONDS))
                outcomes.append(outcome)
                _progress(outcome)
        finally:
            watcher.close()
    _report(outcomes, skipped, seconds, drain_s)


def _progress(o: Outcome) -> None:
    print(
        f"  {o.rate:g}/s: {len(o.samples)} sent, {len(o.created)} created, {len(o.waitlisted)} waitlisted, "
        f"lag after {o.lag_after}",
        flush=True,
    )


def _ms(values: Sequence[float], q: float) -> str:
    value = percentile(values, q)
    if math.isnan(value):
        return "-"
    return "unfinished" if math.isinf(value) else f"{value * 1000:,.0f}"


def _report(outcomes: list[Outcome], skipped: list[float], seconds: float, drain_s: float) -> None:
    print(f"open loop, {seconds:.0f} s per rate; drain up to {drain_s:.0f} s; latencies in ms")
    api = []
    for o in outcomes:
        post = [s.answered - s.due for s in o.samples]
        failed = len(o.samples) - len(o.created)
        stopped = f"API fell behind at {o.stopped_at:.0f} s" if o.stopped_at is not None else "no"
        api.append([f"{o.rate:g}", len(o.samples), len(o.created), failed, o.answered_rate(),
                    _ms(post, 50), _ms(post, 99), stopped])  # fmt: skip
    print_table(
        ["rate/s", "sent", "201s", "failed", "201s/s sustained", "POST p50", "POST p99", "stopped early"], api
    )
    reasons = Counter(f"{s.status} {s.detail}" for o in outcomes for s in o.samples if s.status != 201)
    for reason, count in reasons.most_common(5):
        print(f"  failed x{count}: {reason}")
    rows = []
    for o in outcomes:
        answered = {s.case_id: s.answered for s in o.created if s.case_id}
        triaged = [o.triaged[c] - t if c in o.triaged else math.inf for c, t in answered.items()]
        waited = [o.waitlisted[c] - t if c in o.waitlisted else math.inf for c, t in answered.items()]
        raw_p99, wl_p99 = percentile(o.raw, 99), percentile(waited, 99)
        vs = "-" if math.isnan(raw_p99) or math.isinf(wl_p99) or not raw_p99 else f"{wl_p99 / raw_p99:,.1f}x"
        lag = sum(o.lag_after.values())
        drained = (
            f"0 after {o.drained_after:.1f} s"
            if o.drained_after is not None
            else f"{lag} after {drain_s:.0f} s"
        )
        rows.append([f"{o.rate:g}", _ms(triaged, 50), _ms(triaged, 99), _ms(waited, 50), _ms(waited, 99),
                     f"{len(o.waitlisted)}/{len(answered)}", _ms(o.raw, 50), _ms(o.raw, 99), vs, drained])  # fmt: skip
    print_table(
        ["rate/s", "→triaged p50", "→triaged p99", "→waitlisted p50", "→waitlisted p99", "waitlisted",
         "raw 3-hop p50", "raw 3-hop p99", "p99 vs raw", "lag (after drain)"],
        rows,
    )  # fmt: skip
    if skipped:
        print(
            f"  skipped {', '.join(f'{r:g}/s' for r in skipped)}: the {outcomes[-1].rate:g}/s run had not drained; "
            "BENCH_LATENCY_KEEP_GOING=1 runs them anyway"
        )
