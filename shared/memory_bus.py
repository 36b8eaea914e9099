"""An in-process, thread-safe log with Kafka's semantics, for unit tests and the embedded default.

Topics are append-only lists; each consumer group keeps a committed offset per topic and
a read position, so uncommitted records are redelivered to a new source of the same
group exactly as Kafka would after a crash.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Sequence

from shared.events import Headers
from shared.messaging import Record


class MemoryBus:
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._topics: dict[str, list[Record]] = defaultdict(list)
        self._committed: dict[tuple[str, str], int] = defaultdict(int)

    # -- Publisher ---------------------------------------------------------
    def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        self.send_many(topic, [(key, value, headers)])

    def send_many(self, topic: str, records: Sequence[tuple[bytes | None, bytes | None, Headers]]) -> None:
        with self._lock:
            log = self._topics[topic]
            for key, value, headers in records:
                log.append(Record(topic, 0, len(log), key, value, list(headers)))
            self._lock.notify_all()

    def close(self) -> None:
        with self._lock:
            self._lock.notify_all()

    # -- inspection ----------------------------------------------------------
    def records(self, topic: str) -> list[Record]:
        with self._lock:
            return list(self._topics[topic])

    def source(self, group: str, topics: Sequence[str]) -> MemorySource:
        return MemorySource(self, group, topics)


class MemorySource:
    def __init__(self, bus: MemoryBus, group: str, topics: Sequence[str]) -> None:
        self._bus = bus
        self._group = group
        self._topics = list(topics)
        with bus._lock:
            self._position = {t: bus._committed[(group, t)] for t in self._topics}
        self._closed = False

    def poll(self, timeout_s: float) -> list[Record]:
        bus = self._bus
        with bus._lock:
            batch = self._take()
            if not batch and not self._closed:
                bus._lock.wait(timeout_s)
                batch = self._take()
            return batch

    def _take(self) -> list[Record]:
        batch: list[Record] = []
        for topic in self._topics:
            log = self._bus._topics[topic]
            batch.extend(log[self._position[topic] :])
            self._position[topic] = len(log)
        return batch

    def commit(self, records: Sequence[Record]) -> None:
        with self._bus._lock:
            for record in records:
                key = (self._group, record.topic)
                self._bus._committed[key] = max(self._bus._committed[key], record.offset + 1)

    def lag(self) -> dict[tuple[str, int], int]:
        with self._bus._lock:
            return {
                (t, 0): len(self._bus._topics[t]) - self._bus._committed[(self._group, t)]
                for t in self._topics
            }

    def close(self) -> None:
        self._closed = True
        self._bus.close()
