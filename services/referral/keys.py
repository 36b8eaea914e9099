"""Schools and their API keys: the functions the ``waymark`` CLI calls, and the key lookup.

A key is shown once, when created; only its SHA-256 is stored (shared.auth). A school may
hold several keys at once so it can rotate without downtime: create the new key, switch,
revoke the old one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from shared.auth import SCHOOL_KEY_PREFIX, new_school_key


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    school_id: str
    key: str
    """The secret itself: print it once; it cannot be recovered."""


@dataclass(frozen=True)
class SchoolCaller:
    school_id: str
    key_id: str


def create_school_key(db: Database, school_id: str, name: str, *, now: datetime | None = None) -> IssuedKey:
    """Register the school if new (``name`` is its display name) and issue it a fresh key."""
    now = now or datetime.now(UTC)
    _register_school(db, school_id, name, now)
    key, digest = new_school_key()
    key_id = "key_" + secrets.token_hex(6)
    db.school_keys.insert_one(
        {"_id": key_id, "school_id": school_id, "key_hash": digest, "created_at": now, "revoked_at": None}
    )
    return IssuedKey(key_id, school_id, key)


def _register_school(db: Database, school_id: str, name: str, now: datetime) -> None:
    """Create the school, or rename it; nothing when it exists under this name.

    Not an unconditional upsert: every write of a document on FerretDB rewrites all of it, and
    the school's webhook PUT writes this document too (docs/adr/0003), so issuing a key leaves
    it alone unless the name changes.
    """
    current = db.schools.find_one({"_id": school_id}, {"name": 1})
    if current is None:
        try:
            db.schools.insert_one({"_id": school_id, "name": name, "created_at": now})
            return
        except DuplicateKeyError:  # registered meanwhile
            current = db.schools.find_one({"_id": school_id}, {"name": 1}) or {}
    if current.get("name") != name:
        db.schools.update_one({"_id": school_id}, {"$set": {"name": name}})


def revoke_school_key(db: Database, key_id: str, *, now: datetime | None = None) -> bool:
    """Revoke a key; True if it was active. API workers that remembered it (services.referral.callers)
    stop accepting it within REFERRAL_KEY_CACHE_S seconds."""
    result = db.school_keys.update_one(
        {"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": now or datetime.now(UTC)}}
    )
    return result.modified_count == 1


def list_school_keys(db: Database, school_id: str | None = None) -> list[dict[str, Any]]:
    """Key ids, schools and dates (never hashes) for the CLI's listing."""
    query = {"school_id": school_id} if school_id else {}
    return list(db.school_keys.find(query, {"key_hash": 0}).sort("created_at", 1))


def looks_like_a_key(key: str) -> bool:
    return key.startswith(SCHOOL_KEY_PREFIX) and len(key) <= 200


def caller_by_hash(db: Database, digest: str) -> SchoolCaller | None:
    """The active key with this hash (one read on the unique ``key_hash`` index)."""
    found = db.school_keys.find_one({"key_hash": digest, "revoked_at": None}, {"school_id": 1})
    return SchoolCaller(found["school_id"], found["_id"]) if found else None
