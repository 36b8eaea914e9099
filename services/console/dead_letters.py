"""Dead letters for the console: Kafka topics on the stack, the in-process bus when embedded."""

from __future__ import annotations

from typing import Any, Protocol

from shared import dlq, topics
from shared.memory_bus import MemoryBus


class DeadLetters(Protocol):
    def list(self, group: str) -> list[dict[str, Any]]: ...

    def replay(self, group: str) -> int: ...


class KafkaDeadLetters:
    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap

    def list(self, group: str) -> list[dict[str, Any]]:
        return dlq.list_dead_letters(self._bootstrap, topics.dead_letters(group), timeout_s=1.5)

    def replay(self, group: str) -> int:
        return dlq.replay(self._bootstrap, topics.dead_letters(group))


class MemoryDeadLetters:
    """The embedded platform's bus; a replay cursor per group remembers what went back."""

    def __init__(self, bus: MemoryBus) -> None:
        self._bus = bus
        self._replayed: dict[str, int] = {}

    def list(self, group: str) -> list[dict[str, Any]]:
        return [dlq.DeadLetter(r).summary() for r in self._bus.records(topics.dead_letters(group))]

    def replay(self, group: str) -> int:
        records = self._bus.records(topics.dead_letters(group))
        start = self._replayed.get(group, 0)
        for record in records[start:]:
            dlq.replay_one(dlq.DeadLetter(record), self._bus)
        self._replayed[group] = len(records)
        return len(records) - start


def for_mode(embedded_bus: MemoryBus | None, bootstrap: str) -> DeadLetters:
    return MemoryDeadLetters(embedded_bus) if embedded_bus is not None else KafkaDeadLetters(bootstrap)
