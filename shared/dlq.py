"""Operator tools for dead-letter topics: list what is there and replay it to where it came from.

Replay republishes the original key, value and CloudEvent headers to the original
topic; the consumer's inbox then treats it as the same event (same id), so a replay
after a fix is handled once. A replay group remembers what has been replayed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from kafka import KafkaConsumer

from shared.kafka import KafkaPublisher
from shared.messaging import Publisher, Record

REPLAY_GROUP = "waymark-dlq-replay"


@dataclass(frozen=True)
class DeadLetter:
    record: Record

    @property
    def origin(self) -> str:
        return self.record.header("dlq_topic") or ""

    def summary(self) -> dict[str, str | int | None]:
        r = self.record
        return {
            "offset": r.offset,
            "partition": r.partition,
            "key": r.key.decode("utf-8", "replace") if r.key else None,
            "type": r.header("ce_type"),
            "event_id": r.header("ce_id"),
            "origin": f"{self.origin}[{r.header('dlq_partition')}]@{r.header('dlq_offset')}",
            "attempts": r.header("dlq_attempts"),
            "reason": r.header("dlq_reason"),
        }


def replay_one(dead: DeadLetter, publisher: Publisher) -> None:
    headers = [(k, v) for k, v in dead.record.headers if not k.startswith("dlq_")]
    publisher.send(dead.origin, dead.record.key, dead.record.value, headers)


def read(bootstrap: str, topic: str, group: str | None, timeout_s: float = 5.0) -> Iterator[tuple]:
    """Yield (consumer, DeadLetter); with a group, only records not yet replayed."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap.split(","),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=int(timeout_s * 1000),
    )
    try:
        for m in consumer:
            record = Record(m.topic, m.partition, m.offset, m.key, m.value, list(m.headers or []))
            yield consumer, DeadLetter(record)
    finally:
        consumer.close(autocommit=False)


def list_dead_letters(bootstrap: str, topic: str, timeout_s: float = 5.0) -> list[dict]:
    return [dead.summary() for _, dead in read(bootstrap, topic, group=None, timeout_s=timeout_s)]


def replay(bootstrap: str, topic: str) -> int:
    """Republish every dead letter not replayed before; returns how many."""
    from kafka import TopicPartition
    from kafka.structs import OffsetAndMetadata

    publisher = KafkaPublisher(bootstrap, "waymark-dlq-replay")
    count = 0
    try:
        for consumer, dead in read(bootstrap, topic, group=REPLAY_GROUP):
            replay_one(dead, publisher)
            tp = TopicPartition(dead.record.topic, dead.record.partition)
            consumer.commit({tp: OffsetAndMetadata(dead.record.offset + 1, "", -1)})
            count += 1
    finally:
        publisher.close()
    return count
