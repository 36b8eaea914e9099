"""Lockout after repeated failed sign-ins, correct on a store whose only atomic operation is a unique insert.

Every sign-in attempt for a user name first *claims a slot*: it inserts
``{"_id": "<name>|<window>|<n>"}`` for the lowest free ``n`` below ``max_attempts``, where
``<window>`` numbers the fixed ``window_s`` period of the clock. The insert on the unique
``_id`` is atomic even on FerretDB, so however many requests race, at most ``max_attempts``
of them are ever checked against the password per name per window; when every slot is
taken the name is locked until the window ends (429 with Retry-After). A successful
sign-in deletes the name's slots, so only failures accumulate. A counter updated with
``$inc`` would not do: FerretDB's updates are read-modify-write, and a conditional update
can have several winners.

Defaults (``WAYMARK_STAFF_LOCKOUT_ATTEMPTS`` / ``WAYMARK_STAFF_LOCKOUT_WINDOW_S``): 5 failed
attempts per 15-minute window. Windows are aligned to the clock, so a burst straddling a
boundary can try at most twice that in any 15 minutes. Names that have no account are
metered the same way, so the answer does not tell whether an account exists. Locking is
per name, so anyone can lock a person out for one window by guessing; an operator clears
it early with ``waymark staff unlock``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from shared.store import Index, ensure_indexes

ATTEMPTS = "staff_sign_in_attempts"
MAX_ATTEMPTS = 5
WINDOW_S = 15 * 60
INDEXES = {
    ATTEMPTS: [
        Index([("key", ASCENDING), ("window", ASCENDING)], name="by_key_window"),
        Index([("window", ASCENDING)], name="by_window"),
    ]
}


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming an attempt: allowed, or locked for ``retry_after_s`` more seconds."""

    allowed: bool
    retry_after_s: int = 0


class Lockout:
    def __init__(
        self,
        db: Database,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        window_s: int = WINDOW_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_attempts < 1 or window_s < 1:
            raise ValueError("lockout needs at least one attempt per window of at least one second")
        self.collection = db[ATTEMPTS]
        self.max_attempts = max_attempts
        self.window_s = window_s
        self._clock = clock
        ensure_indexes(db, INDEXES)

    def claim(self, username: str) -> Claim:
        """Take one attempt slot for ``username`` in this window, or say how long it stays locked."""
        now = self._clock()
        window = int(now // self.window_s)
        key = username.lower()
        taken = self.collection.count_documents({"key": key, "window": window}, limit=self.max_attempts)
        for n in range(taken, self.max_attempts):  # the count is a hint; the unique insert decides
            try:
                self.collection.insert_one({"_id": f"{key}|{window}|{n}", "key": key, "window": window})
            except DuplicateKeyError:
                continue
            return Claim(True)
        self.collection.delete_many({"window": {"$lt": window - 1}})  # purge old windows (no TTL)
        return Claim(False, max(1, int((window + 1) * self.window_s - now)))

    def succeeded(self, username: str) -> None:
        """A correct sign-in: the name's failures are forgotten."""
        self.clear(username)

    def clear(self, username: str) -> int:
        return self.collection.delete_many({"key": username.lower()}).deleted_count
