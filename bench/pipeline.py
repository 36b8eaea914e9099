"""The event pipeline end to end vs raw kafka-python: events/s from the first write to the last handled.

Pipeline: each event is written the way services write them (``shared.outbox.Outbox``:
its intent, then its own document, by ``WRITERS`` threads as a gunicorn API's threads
would; the writer's dispatcher publishes with acks=all) → Kafka → the worker the stack
runs (``shared.runtime.kafka_worker``: the consumer loop with its inbox on the store, the
outbox sweeper beside it) hands it to a handler.
Baseline: the same number of events through raw ``KafkaProducer.send`` → ``KafkaConsumer``
poll on a topic of the same partition count, with the clients configured as the pipeline's
are (shared.kafka: acks=all, idempotent, linger 2 ms; at most 100 records a poll), so the
ratio measures what the pipeline adds, not a difference in client settings. Both sides are warmed by one event first
(group join and metadata are not counted); rounds alternate baseline and pipeline and
each figure is the median of the rounds; the ratio is pipeline events/s ÷ raw events/s.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from flask import Flask
from kafka import KafkaConsumer, KafkaProducer

from bench._infra import Infra, create_topics, infra_or_skip
from bench._table import print_table, ratio
from shared import topics
from shared.events import Event, event_type, to_kafka
from shared.outbox import Outbox
from shared.runtime import kafka_worker
from shared.service import Service
from shared.settings import KAFKA, Settings

N, ROUNDS = 2000, 3
QUICK_N, QUICK_ROUNDS = 300, 3
WRITERS = 8
"""Concurrent writers: a stack API serves 2 gunicorn workers x 4 threads."""
TIMEOUT_S = 600.0
WARM_TIMEOUT_S = 120.0
TYPE = "bench.pinged"
MAX_POLL_RECORDS = 100
"""shared.kafka.KafkaSource's batch: the raw consumer polls the same batches as the pipeline's."""


def _event(i: int) -> Event:
    return Event(event_type(TYPE), "/services/bench", f"case-{i % 50}", {"i": i})


class Counter:
    """Counts handled events (the warm-up one apart) and says when the last one arrived."""

    def __init__(self, n: int) -> None:
        self.n, self.seen, self.warm = n, 0, threading.Event()
        self.done = threading.Event()
        self.finished_at = 0.0
        self._lock = threading.Lock()

    def __call__(self, i: int) -> None:
        if i < 0:
            self.warm.set()
            return
        with self._lock:
            self.seen += 1
            if self.seen == self.n:
                self.finished_at = time.perf_counter()
                self.done.set()

    def wait(self, flag: threading.Event, what: str, timeout_s: float = TIMEOUT_S) -> None:
        if not flag.wait(timeout_s):
            raise TimeoutError(f"{what}: {self.seen} of {self.n} events after {timeout_s:.0f} s")


def pipeline_once(infra: Infra, n: int) -> tuple[float, float]:
    """Events/s through outbox writes → Kafka → consumer loop + inbox → handler, and of the writes alone.

    The writes run beside the consumer, as a service's API does; their own rate says
    whether the writers or what follows them set the pace.
    """
    name = f"bench{uuid.uuid4().hex[:8]}"
    client = infra.mongo()
    db = client[f"bench_pipeline_{name}"]
    counter = Counter(n)
    settings = Settings.from_env(name).but(mode=KAFKA, kafka_bootstrap=infra.bootstrap, mongo_db=db.name)
    service = Service(
        settings=settings,
        db=db,
        app=Flask(name),
        outbox=Outbox.for_settings(db, settings),
        handlers={TYPE: lambda e: counter(int(e.data["i"]))},
        consumes=[topics.events(name)],
    )
    worker = kafka_worker(service)  # its producer is left to the garbage collector, as a process exit would
    worker.start()
    write = _writer(service)
    try:
        write(-1)
        counter.wait(counter.warm, "pipeline warm-up", WARM_TIMEOUT_S)
        started = time.perf_counter()
        with ThreadPoolExecutor(WRITERS) as pool:
            list(pool.map(write, range(n)))
        written = time.perf_counter() - started
        counter.wait(counter.done, "pipeline")
        return n / (counter.finished_at - started), n / written
    finally:
        worker.stop()
        client.drop_database(db.name)
        client.close()


def _writer(service: Service) -> Callable[[int], None]:
    box = service.outbox
    assert box is not None

    def write(i: int) -> None:
        box.insert_one(service.db.events, {"_id": f"doc-{i}"}, [_event(i)])

    return write


def raw_once(infra: Infra, n: int) -> float:
    """Events/s through KafkaProducer.send → KafkaConsumer.poll, nothing else."""
    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    create_topics(infra.bootstrap, [topic])
    counter = Counter(n)
    stop = threading.Event()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=infra.bootstrap,
        group_id=f"bench-{topic}",
        auto_offset_reset="earliest",
        max_poll_records=MAX_POLL_RECORDS,
    )

    def consume() -> None:
        while not stop.is_set():
            for records in consumer.poll(500).values():
                for record in records:
                    counter(-1 if record.key == b"warm" else 0)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    producer = KafkaProducer(
        bootstrap_servers=infra.bootstrap, acks="all", enable_idempotence=True, linger_ms=2
    )
    payloads = [to_kafka(_event(i))[1:] for i in range(n)]
    try:
        producer.send(topic, key=b"warm", value=b"{}")
        producer.flush()
        counter.wait(counter.warm, "raw warm-up", WARM_TIMEOUT_S)
        started = time.perf_counter()
        for i, (value, headers) in enumerate(payloads):
            producer.send(topic, key=f"e-{i}".encode(), value=value, headers=headers)
        producer.flush()
        counter.wait(counter.done, "raw")
        return n / (counter.finished_at - started)
    finally:
        stop.set()
        thread.join(5)
        consumer.close()
        producer.close()


def main(quick: bool = False) -> None:
    infra = infra_or_skip("pipeline")
    if infra is None:
        return
    n, rounds = (QUICK_N, QUICK_ROUNDS) if quick else (N, ROUNDS)
    raw, piped = [], []
    for r in range(rounds):
        raw.append(raw_once(infra, n))
        rate, writes = pipeline_once(infra, n)
        piped.append(rate)
        print(
            f"  round {r + 1}/{rounds}: raw {raw[-1]:,.0f} events/s, pipeline {rate:,.0f} events/s "
            f"(its outbox writes alone: {writes:,.0f}/s)",
            flush=True,
        )
    raw_rate, piped_rate = statistics.median(raw), statistics.median(piped)
    print_table(
        ["path", "events", "rounds", "median events/s", "vs baseline"],
        [
            ["raw KafkaProducer.send → KafkaConsumer.poll (baseline)", n, rounds, raw_rate, "1.000x"],
            [
                "outbox writes → Kafka → consumer loop + inbox → handler",
                n,
                rounds,
                piped_rate,
                ratio(piped_rate, raw_rate),
            ],
        ],
    )
