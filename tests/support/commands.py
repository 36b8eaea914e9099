"""The store commands a client sends, recorded through pymongo's command monitoring.

Every command is a round trip to the store; tests that hold a path to a budget of round
trips count them here.
"""

from __future__ import annotations

from pymongo import monitoring


class Commands(monitoring.CommandListener):
    """``sent``: ``"<command> <collection>"`` per command started; ``filters``: each one's filter."""

    IGNORED = frozenset({"hello", "ismaster", "isMaster", "ping", "endSessions", "buildInfo"})

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.filters: list[object] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in self.IGNORED:
            self.sent.append(f"{event.command_name} {event.command.get(event.command_name)}")
            self.filters.append(event.command.get("filter"))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def clear(self) -> None:
        self.sent.clear()
        self.filters.clear()
