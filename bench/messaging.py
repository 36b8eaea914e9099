"""What the delivery guarantees cost: outbox writes, the sweeper and the consumer loop vs. raw client baselines.

Each row is the median of several runs of N events; the ratio compares a path with its
baseline measured in the same run (these machines are noisy, absolute numbers less so).
Runs the Kafka/FerretDB rows only when deploy/infra.sh has them up.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import mongomock
from kafka import KafkaConsumer, KafkaProducer
from pymongo import MongoClient
from pymongo.database import Database

from bench._table import median_seconds, print_table
from shared import kafka, outbox
from shared.consumer import ConsumerLoop, Subscription
from shared.events import Event, event_type, to_kafka
from shared.inbox import Inbox
from shared.memory_bus import MemoryBus
from shared.messaging import Source
from shared.outbox import Outbox, OutboxSweeper
from shared.settings import ConsumerPolicy, Settings

N = 2000
REPEATS = 5
QUICK_N = 300
QUICK_REPEATS = 2


def events(n: int) -> list[Event]:
    return [
        Event(event_type("bench.pinged"), "/services/bench", f"case-{i % 50}", {"i": i}) for i in range(n)
    ]


def write_all(box: Outbox, db: Database, n: int) -> None:
    """n event-carrying inserts through the outbox (intent, write, publish by the writer)."""
    for i, e in enumerate(events(n)):
        box.insert_one(db.cases, {"_id": f"doc-{i}"}, [e])
    box.flush()


def reset(db: Database) -> None:
    db.cases.delete_many({})
    db[outbox.PENDING].delete_many({})


def fill_left_behind(db: Database, n: int) -> None:
    """n writes whose writer could not publish: intents and aggregates for the sweeper."""
    reset(db)
    crashed = Outbox(db, "bench", "t", inline=True)  # never attached to a bus: nothing leaves
    for i, e in enumerate(events(n)):
        crashed.insert_one(db.cases, {"_id": f"doc-{i}"}, [e])


def sweep_all(sweeper: OutboxSweeper) -> None:
    while sweeper.run_once():
        pass


def consume_all(loop: ConsumerLoop, source: Source, n: int, per_record: bool) -> None:
    """Handle n events as the loop does (a polled batch at a time), or one record at a time."""
    handled = 0
    while handled < n:
        records = source.poll(1.0)
        if per_record:
            for record in records:
                if loop.process(record):
                    source.commit([record])
        else:
            source.commit(loop.process_batch(records))
        handled += len(records)


def embedded_rows(n: int, repeats: int) -> list[list[object]]:
    db = mongomock.MongoClient()["bench"]
    bus = MemoryBus()
    box = Outbox(db, "bench", "t", inline=True)
    box.attach(bus)
    raw = median_seconds(lambda: bus.send_many("raw", [to_kafka(e) for e in events(n)]), repeats)
    written = median_seconds(lambda: write_all(box, db, n), repeats, setup=lambda: reset(db))
    return [
        ["embedded: bus.send_many (baseline)", n, raw, n / raw, 1.0],
        ["embedded: outbox writes, published by the writer", n, written, n / written, written / raw],
    ]


def kafka_rows(bootstrap: str, mongo_uri: str, n: int, repeats: int) -> list[list[object]]:
    client: MongoClient = MongoClient(mongo_uri, serverSelectionTimeoutMS=2000)
    db = client[f"bench_{uuid.uuid4().hex[:8]}"]
    rows: list[list[object]] = []
    try:
        topic = f"bench.{uuid.uuid4().hex[:8]}"
        kafka.ensure_topics(bootstrap, [topic])
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
        payloads = [to_kafka(e) for e in events(n)]

        def raw_send() -> None:
            for key, value, headers in payloads:
                producer.send(topic, key=key, value=value, headers=headers)
            producer.flush()

        raw = median_seconds(raw_send, repeats)
        publisher = kafka.KafkaPublisher(bootstrap, "bench")
        box = Outbox(db, "bench", topic)
        box.attach(publisher)
        written = median_seconds(lambda: write_all(box, db, n), repeats, setup=lambda: reset(db))
        sweeper = OutboxSweeper(box, grace=timedelta(0))
        swept = median_seconds(lambda: sweep_all(sweeper), repeats, setup=lambda: fill_left_behind(db, n))
        box.close()
        rows += [
            ["kafka: producer.send + flush (baseline)", n, raw, n / raw, 1.0],
            [
                "kafka: outbox writes on the store, published by the writer",
                n,
                written,
                n / written,
                written / raw,
            ],
            ["kafka: sweeper publishing what writers left (acks=all)", n, swept, n / swept, swept / raw],
        ]

        def raw_consume() -> None:
            consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
            seen = 0
            while seen < n:
                seen += sum(len(b) for b in consumer.poll(1000, max_records=500).values())
            consumer.close()

        raw_c = median_seconds(raw_consume, repeats)

        def loop_consume(per_record: bool) -> None:
            group = f"bench-{uuid.uuid4().hex[:6]}"
            source = kafka.KafkaSource(bootstrap, group, [topic], "bench")
            subscription = Subscription(group, (topic,), {"bench.pinged": lambda e: None}, "bench.dlq")
            loop = ConsumerLoop("bench", subscription, source, publisher, Inbox(db), ConsumerPolicy())
            consume_all(loop, source, n, per_record)
            source.close()

        def forget() -> None:
            db.processed_events.delete_many({})
            db.processed_batches.delete_many({})

        batched = median_seconds(lambda: loop_consume(per_record=False), min(3, repeats), setup=forget)
        each = median_seconds(lambda: loop_consume(per_record=True), min(3, repeats), setup=forget)
        rows += [
            ["kafka: raw consumer poll (baseline)", n, raw_c, n / raw_c, 1.0],
            [
                "kafka: consumer loop, inbox + commit per polled batch",
                n,
                batched,
                n / batched,
                batched / raw_c,
            ],
            ["kafka: consumer loop, inbox + commit per record", n, each, n / each, each / raw_c],
        ]
        producer.close()
        publisher.close()
    finally:
        client.drop_database(db.name)
        client.close()
    return rows


def main(quick: bool = False) -> None:
    settings = Settings.from_env("bench")
    n, repeats = (QUICK_N, QUICK_REPEATS) if quick else (N, REPEATS)
    rows = embedded_rows(n, repeats)
    try:
        kafka.ping(settings.kafka_bootstrap)
        rows += kafka_rows(settings.kafka_bootstrap, settings.mongo_uri, n, repeats)
    except ConnectionError as exc:
        print(f"(kafka rows skipped: {exc}; run deploy/infra.sh start)")
    print_table(["path", "events", "median s", "events/s", "x baseline"], rows)
