"""Staff accounts in the shared auth database: who may sign in, with which role, for which hospitals.

One document per account, keyed by its user name (``_id``), in ``staff_accounts`` of the
auth database every service already reads (``WAYMARK_AUTH_DB``)::

    {"_id": "dr-wang", "name": "Dr Wang", "role": "clinician", "hospitals": ["bch"],
     "password_hash": "$argon2id$...", "disabled": false, "totp_secret": null,
     "created_at": ..., "updated_at": ...}

An account has one role and a hospital scope (``*`` is the region), exactly what a staff
token carries, so a signed-in person is the same :class:`shared.auth.Principal` a token
gives and every route policy applies unchanged. Creating is a unique insert (two admins
creating the same name: one wins, the other is told); the other changes are single-document
updates, last writer wins, which is all they need.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from shared.auth import REGION
from shared.store import Index, ensure_indexes

ACCOUNTS = "staff_accounts"
ROLES = ("scheduler", "clinician", "operator", "admin")
"""Roles a person's account can hold (``service`` is for tokens services mint, never a person)."""
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
HOSPITAL_ID = re.compile(r"^(\*|[a-z0-9][a-z0-9_-]{0,39})$")
INDEXES = {ACCOUNTS: [Index([("hospitals", ASCENDING), ("_id", ASCENDING)], name="by_hospital")]}
LIST_LIMIT = 100


class AccountExists(ValueError):
    """An account with that user name exists already."""


class NoSuchAccount(LookupError):
    """No account has that user name."""


@dataclass(frozen=True)
class Account:
    username: str
    role: str
    hospitals: tuple[str, ...]
    name: str = ""
    disabled: bool = False
    password_hash: str | None = None
    totp_secret: str | None = None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Account:
        return cls(
            username=doc["_id"],
            role=doc["role"],
            hospitals=tuple(doc.get("hospitals") or ()),
            name=doc.get("name", ""),
            disabled=bool(doc.get("disabled")),
            password_hash=doc.get("password_hash"),
            totp_secret=doc.get("totp_secret"),
        )

    def public(self) -> dict[str, Any]:
        """What a listing shows: never the hash or the TOTP secret."""
        return {
            "username": self.username,
            "name": self.name,
            "role": self.role,
            "hospitals": list(self.hospitals),
            "disabled": self.disabled,
            "totp": self.totp_secret is not None,
        }


def validate(username: str, role: str, hospitals: Sequence[str]) -> None:
    if not USERNAME.match(username):
        raise ValueError("a user name is 2-63 characters: lower-case letters, digits, '.', '_', '-'")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not hospitals or not all(HOSPITAL_ID.match(h) for h in hospitals):
        raise ValueError("give at least one hospital id, or '*' for the whole region")


class Accounts:
    """The ``staff_accounts`` collection: create, read by name, list by keyset, change one field."""

    def __init__(self, db: Database, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.collection = db[ACCOUNTS]
        self._clock = clock
        ensure_indexes(db, INDEXES)

    def create(
        self,
        username: str,
        role: str,
        hospitals: Iterable[str] = (REGION,),
        *,
        password_hash: str | None,
        name: str = "",
    ) -> Account:
        """A new account (atomic: the user name is the unique ``_id``); AccountExists otherwise."""
        hospitals = tuple(dict.fromkeys(hospitals))
        validate(username, role, hospitals)
        now = self._clock()
        doc = {
            "_id": username,
            "name": name,
            "role": role,
            "hospitals": list(hospitals),
            "password_hash": password_hash,
            "disabled": False,
            "totp_secret": None,
            "created_at": now,
            "updated_at": now,
        }
        try:
            self.collection.insert_one(doc)
        except DuplicateKeyError:
            raise AccountExists(f"an account named {username!r} exists already") from None
        return Account.from_doc(doc)

    def get(self, username: str) -> Account | None:
        doc = self.collection.find_one({"_id": username})
        return Account.from_doc(doc) if doc else None

    def list(self, *, hospital: str | None = None, after: str = "", limit: int = LIST_LIMIT) -> list[Account]:
        """One page by user name (keyset: pass the last name as ``after``); at most ``LIST_LIMIT``."""
        query: dict[str, Any] = {"_id": {"$gt": after}}
        if hospital:
            query["hospitals"] = hospital
        cursor = self.collection.find(query).sort("_id", ASCENDING).limit(min(limit, LIST_LIMIT))
        return [Account.from_doc(doc) for doc in cursor]

    def set_disabled(self, username: str, disabled: bool = True) -> None:
        self._set(username, {"disabled": disabled})

    def set_password_hash(self, username: str, password_hash: str) -> None:
        self._set(username, {"password_hash": password_hash})

    def set_totp_secret(self, username: str, secret: str | None) -> None:
        self._set(username, {"totp_secret": secret})

    def _set(self, username: str, fields: dict[str, Any]) -> None:
        result = self.collection.update_one(
            {"_id": username}, {"$set": {**fields, "updated_at": self._clock()}}
        )
        if result.matched_count == 0:
            raise NoSuchAccount(username)


__all__ = ["ACCOUNTS", "ROLES", "Account", "AccountExists", "Accounts", "NoSuchAccount"]
