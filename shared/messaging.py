"""The transport-neutral messaging interface that Kafka and the in-process bus both implement.

Services and the consumer loop depend only on these protocols, so the same code runs
on a real broker in the stack and on :mod:`shared.memory_bus` in unit tests and the
embedded default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from shared.events import Headers


class CommitFailed(RuntimeError):
    """The broker did not take a commit (a rebalance moved the partitions, or it timed out).

    Nothing is lost: the records are redelivered to whoever owns their partitions next,
    and the inbox and idempotent handlers absorb the second delivery.
    """


@dataclass(frozen=True)
class Record:
    """One consumed message, as the broker delivered it (before decoding)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode("utf-8", "replace")
        return None


class Publisher(Protocol):
    def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        """Send one record and block until the broker has acknowledged it (acks=all)."""

    def send_many(self, topic: str, records: Sequence[tuple[bytes | None, bytes | None, Headers]]) -> None:
        """Send records in order and block until all are acknowledged; raise if any failed."""

    def close(self) -> None: ...


class Source(Protocol):
    """A subscription of one consumer group to some topics."""

    def poll(self, timeout_s: float) -> list[Record]: ...

    def commit(self, records: Sequence[Record]) -> None:
        """Mark these records, and everything before each on its partition, as done (one round trip).

        Raises :class:`CommitFailed` when the broker refuses or does not answer.
        """

    def lag(self) -> dict[tuple[str, int], int]:
        """Messages not yet consumed, per (topic, partition)."""

    def close(self) -> None: ...


def last_per_partition(records: Sequence[Record]) -> dict[tuple[str, int], Record]:
    """The highest-offset record of each (topic, partition): what a commit needs."""
    last: dict[tuple[str, int], Record] = {}
    for record in records:
        key = (record.topic, record.partition)
        if key not in last or record.offset > last[key].offset:
            last[key] = record
    return last
