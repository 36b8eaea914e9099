"""Optional TOTP second factor (RFC 6238, pyotp): enrolment and one-time use of each code.

A code is accepted for the current 30-second step or the one before (clock drift), and
only once: the step is recorded with a unique insert (``staff_totp_used``), so a code seen
over someone's shoulder cannot be replayed within its window, even by racing requests.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pyotp
from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from shared.store import Index, ensure_indexes

USED = "staff_totp_used"
ISSUER = "Waymark"
STEP_S = 30
INDEXES = {USED: [Index([("step", ASCENDING)], name="by_step")]}


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// URI an authenticator app reads (as a QR code or typed in)."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step ``code`` belongs to (this one or the previous), or None."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    step = int(now // STEP_S)
    for candidate in (step, step - 1):
        if pyotp.utils.strings_equal(totp.at(candidate * STEP_S), code):
            return candidate
    return None


class OneTimeCodes:
    """Checks a code and spends it: the same (account, step) is never accepted twice."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.collection = db[USED]
        self._clock = clock
        ensure_indexes(db, INDEXES)

    def accept(self, username: str, secret: str, code: str) -> bool:
        step = matching_step(secret, code, self._clock())
        if step is None:
            return False
        try:
            self.collection.insert_one({"_id": f"{username}|{step}", "step": step})
        except DuplicateKeyError:
            return False  # already used: a replay
        self.collection.delete_many({"step": {"$lt": step - 2}})
        return True
