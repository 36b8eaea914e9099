"""Topic names: one events topic per producing service, one dead-letter topic per consumer group."""

from __future__ import annotations


def events(service: str) -> str:
    return f"waymark.{service}.events"


def dead_letters(group: str) -> str:
    return f"waymark.{group}.dlq"
