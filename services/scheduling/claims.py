"""Exactly-once decisions on FerretDB: a unique-key insert, because its conditional updates are not atomic.

FerretDB 1.x applies ``update_one`` by reading the document, applying the update in
Go and writing it back, so two concurrent ``update_one({"state": "open"}, ...)``
can *both* report ``modified_count == 1`` (measured: 7 of 8 concurrent bookers
"won" one slot). A unique index is enforced by the storage engine, so every race
that matters is decided by inserting a claim under a key: ``slot:<id>`` (who holds
or booked the slot), ``offer:<id>`` (the offer's one answer: accept, decline,
expiry, withdrawal, void, abandoned), ``round:<case>:<n>`` (the family's n-th offer,
services/scheduling/rounds.py), ``appointment:<id>`` (its one outcome: cancelled,
attended, no-show), ``move:<appointment>:<n>`` (its n-th reschedule).
The state fields on the documents are the readable view, written by the winner.
"""

from __future__ import annotations

from typing import Any

from pymongo.errors import DuplicateKeyError

from services.scheduling.context import Conflict, Scheduling


def take(ctx: Scheduling, key: str, owner: str, message: str, **fields: Any) -> None:
    """Claim ``key`` for ``owner`` or raise Conflict if anyone (even ``owner``) already has it."""
    try:
        ctx.db.claims.insert_one({"_id": key, "owner": owner, "at": ctx.now(), **fields})
    except DuplicateKeyError:
        raise Conflict(message) from None


def try_take(ctx: Scheduling, key: str, owner: str) -> bool:
    try:
        take(ctx, key, owner, "")
    except Conflict:
        return False
    return True


def hand_over(ctx: Scheduling, key: str, owner: str, new_owner: str) -> bool:
    """Pass a claim on (a held slot becomes a booked one); only the current owner's code path calls this.

    A conditional update, but harmless on FerretDB: the only caller is the one ``accept``
    that won ``offer:<id>``, so it never has a concurrent rival for the same claim.
    """
    return (
        ctx.db.claims.update_one({"_id": key, "owner": owner}, {"$set": {"owner": new_owner}}).modified_count
        == 1
    )


def give_up(ctx: Scheduling, key: str, owner: str) -> bool:
    """Release ``key`` if ``owner`` still holds it; True when it did.

    Owners are unique (offer/appointment ids) and each one's code path releases it once,
    so no two callers race to release the same claim.
    """
    return ctx.db.claims.delete_one({"_id": key, "owner": owner}).deleted_count == 1


def owner_of(ctx: Scheduling, key: str) -> str | None:
    doc = ctx.db.claims.find_one({"_id": key})
    return doc["owner"] if doc else None
