"""Weeks known to hold no open intake slot, remembered per process until any slot opens anywhere.

Why: a new family's first offer walks the weeks forward one equality read at a time
(``offers.best_slot_for_entry``); once the near weeks are taken, every triage paid a read
per full week (up to the whole horizon, 13 reads, when the region is booked out).

How it stays exact: every write that can make a slot open, or findable by its week, sets a
new random ``token`` on one ``meta`` document after its write (``opened``). A reader takes
the token first (one ``_id`` read), then reads weeks; a week whose read found nothing for a
(clinic type, hospitals, urgent) key is remembered under that token. When the token has
changed, everything remembered is forgotten. A slot opened after the reader took the token
changes the token, so the next reader looks again; an earlier one was visible to this
reader's own week reads. A token is set, never incremented: FerretDB's read-modify-write
updates can lose an increment, but two writers' tokens both differ from any earlier one.
Emptiness only grows with time within a token (a week's reads start at ``earliest_start``,
which moves forward), so a remembered week stays empty until a slot opens.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Hashable
from typing import TYPE_CHECKING

from shared import store

if TYPE_CHECKING:
    from services.scheduling.context import Scheduling

TOKEN_ID = "open_slots_token"
MAX_KEYS = 10_000
"""Keys remembered per token (families' hospital sets vary); past it the memory starts afresh."""


def opened(ctx: Scheduling) -> None:
    """Say that a slot may have opened: call after the write (release, unhold, materialise, backfill)."""
    update = {"$set": {"token": uuid.uuid4().hex, "at": ctx.now()}}
    store.upsert(ctx.db.meta, TOKEN_ID, update)


def token(ctx: Scheduling) -> str:
    doc = ctx.db.meta.find_one({"_id": TOKEN_ID}, {"token": 1})
    return str(doc["token"]) if doc else ""


class EmptyWeeks:
    """This process's memory: token → key → weeks whose read found no open intake slot."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token: str | None = None
        self._weeks: dict[Hashable, set[str]] = {}

    def known(self, current: str, key: Hashable) -> frozenset[str]:
        with self._lock:
            if current != self._token:
                self._token, self._weeks = current, {}
            return frozenset(self._weeks.get(key, ()))

    def remember(self, current: str, key: Hashable, week: str) -> None:
        with self._lock:
            if current != self._token:
                return  # a newer token was seen meanwhile: this finding may be stale
            if key not in self._weeks and len(self._weeks) >= MAX_KEYS:
                self._weeks = {}
            self._weeks.setdefault(key, set()).add(week)
