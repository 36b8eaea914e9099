"""Server-side staff sessions: a random id in an HttpOnly cookie, the session itself in the store.

The cookie holds 256 random bits; the store keeps only their SHA-256 as ``_id`` (a copy of
the collection does not let anyone sign in), so every request resolves its session with
one read by ``_id``. A session carries the account's role and hospital scope as they were at
sign-in, its own CSRF token, and an absolute expiry (``WAYMARK_STAFF_SESSION_H``, a shift);
there is no sliding renewal, so a stolen cookie dies with the shift. Expired sessions are
refused when read and purged at each sign-in (the store has no TTL indexes).

Sign-out deletes the session. Disabling an account deletes all of its sessions, with no
window in which a racing sign-in survives: disabling sets the flag and *then* deletes; a
sign-in inserts its session and *then* re-reads the account (:meth:`SignIn` does), so either
the sign-in sees the flag and deletes its own session, or its session existed before the
delete and is removed by it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pymongo import ASCENDING
from pymongo.database import Database

from shared.auth import Principal
from shared.staff.accounts import Account
from shared.store import Index, ensure_indexes

SESSIONS = "staff_sessions"
DEFAULT_TTL_S = 10 * 3600
INDEXES = {
    SESSIONS: [
        Index([("username", ASCENDING)], name="by_account"),
        Index([("expires_at", ASCENDING)], name="by_expiry"),
    ]
}


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    key: str  # sha256 of the cookie's id
    username: str
    role: str
    hospitals: tuple[str, ...]
    csrf: str
    expires_at: float
    via: str = "password"

    def principal(self) -> Principal:
        """The same shape a staff token gives, so the route policies apply unchanged."""
        return Principal(
            "staff", self.username, self.role, self.hospitals, f"session:{self.key[:16]}", self.expires_at
        )

    def csrf_matches(self, offered: str | None) -> bool:
        return bool(offered) and hmac.compare_digest(offered.encode(), self.csrf.encode())


class Sessions:
    def __init__(
        self, db: Database, *, ttl_s: float = DEFAULT_TTL_S, clock: Callable[[], float] = time.time
    ) -> None:
        self.collection = db[SESSIONS]
        self.ttl_s = ttl_s
        self._clock = clock
        ensure_indexes(db, INDEXES)

    def create(self, account: Account, via: str = "password") -> tuple[str, Session]:
        """A new session for ``account``: the cookie value (shown once) and the session."""
        now = self._clock()
        self.collection.delete_many({"expires_at": {"$lt": _instant(now)}})
        session_id = secrets.token_urlsafe(32)
        session = Session(
            key=_digest(session_id),
            username=account.username,
            role=account.role,
            hospitals=account.hospitals,
            csrf=secrets.token_urlsafe(32),
            expires_at=now + self.ttl_s,
            via=via,
        )
        self.collection.insert_one(
            {
                "_id": session.key,
                "username": session.username,
                "role": session.role,
                "hospitals": list(session.hospitals),
                "csrf": session.csrf,
                "via": via,
                "created_at": _instant(now),
                "expires_at": _instant(session.expires_at),
            }
        )
        return session_id, session

    def resolve(self, session_id: str | None) -> Session | None:
        """The live session behind a cookie value, or None (unknown, signed out or expired)."""
        if not session_id or len(session_id) > 128:
            return None
        doc = self.collection.find_one({"_id": _digest(session_id)})
        if doc is None:
            return None
        expires = doc["expires_at"]
        expires_at = (expires if expires.tzinfo else expires.replace(tzinfo=UTC)).timestamp()
        if expires_at <= self._clock():
            return None
        return Session(
            key=doc["_id"],
            username=doc["username"],
            role=doc["role"],
            hospitals=tuple(doc["hospitals"]),
            csrf=doc["csrf"],
            expires_at=expires_at,
            via=doc.get("via", "password"),
        )

    def revoke(self, session_id: str) -> None:
        self.collection.delete_one({"_id": _digest(session_id)})

    def revoke_key(self, key: str) -> None:
        self.collection.delete_one({"_id": key})

    def revoke_account(self, username: str) -> int:
        """End every session of one account (it was disabled)."""
        return self.collection.delete_many({"username": username}).deleted_count


def _instant(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
