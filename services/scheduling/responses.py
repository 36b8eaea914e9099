"""Guardians' answers to offers, and offers whose hold window ran out.

Accepting books the held slot (the slot's guard is the offer id, so only this offer
can book it); declining or expiring frees it for the next family in fair order, and
puts the family back in its place to be offered another slot.
"""

from __future__ import annotations

from typing import Any

from services.scheduling import booking, claims, expedite, offers
from services.scheduling import repository as repo
from services.scheduling.context import Conflict, NotFound, Scheduling


def find_by_token(ctx: Scheduling, token: str) -> dict[str, Any]:
    offer = ctx.db.offers.find_one({"token_hash": offers.token_hash(token)})
    if offer is None:
        raise NotFound("offer not found")
    return offer


def public_view(offer: dict[str, Any], hospital: dict[str, Any] | None) -> dict[str, Any]:
    """What a guardian may see: where, when and until when; nothing about the child."""
    return {
        "offer_id": offer["_id"],
        "state": offer["state"],
        "kind": offer["kind"],
        "hospital_id": offer["hospital_id"],
        "hospital_name": (hospital or {}).get("name", offer["hospital_id"]),
        "start": repo.iso(offer["start"]),
        "end": repo.iso(offer["end"]),
        "hold_until": repo.iso(offer["hold_until"]),
    }


def accept(ctx: Scheduling, token: str) -> dict[str, Any]:
    offer = find_by_token(ctx, token)
    if offer["state"] != "pending" or repo.aware(offer["hold_until"]) <= ctx.now():
        raise Conflict(f"this offer is {_state_now(ctx, offer)} and can no longer be accepted")
    claims.take(ctx, f"offer:{offer['_id']}", "accepted", "this offer has already been answered")
    ctx.db.offers.update_one({"_id": offer["_id"]}, {"$set": {"state": "accepted", "answered_at": ctx.now()}})
    if offer.get("reschedules"):  # an escalated family's earlier slot: move its booking (HZ-09)
        appt = expedite.accept(ctx, offer)
    else:
        appt = booking.book(ctx, offer["case_id"], offer["slot_id"], by="guardian", offer_id=offer["_id"])
    ctx.db.offers.update_one({"_id": offer["_id"]}, {"$set": {"appointment_id": appt["_id"]}})
    return appt


def decline(ctx: Scheduling, token: str) -> dict[str, Any]:
    offer = find_by_token(ctx, token)
    if offer["state"] != "pending":
        raise Conflict(f"this offer is {_state_now(ctx, offer)} and can no longer be declined")
    claims.take(ctx, f"offer:{offer['_id']}", "declined", "this offer has already been answered")
    ctx.db.offers.update_one({"_id": offer["_id"]}, {"$set": {"state": "declined", "answered_at": ctx.now()}})
    _pass_on(ctx, offer)
    return {**offer, "state": "declined"}


def _state_now(ctx: Scheduling, offer: dict[str, Any]) -> str:
    current = ctx.db.offers.find_one({"_id": offer["_id"]}) or offer
    if current["state"] == "pending" and repo.aware(current["hold_until"]) <= ctx.now():
        return "expired"
    return current["state"]


def _pass_on(ctx: Scheduling, offer: dict[str, Any]) -> None:
    """The family keeps its place; the slot goes to the next family; the family gets another slot.

    The conditional update below is harmless on FerretDB: only the one winner of
    ``offer:<id>`` gets here, and that claim is also what opens the family's next round.
    """
    ctx.db.waitlist.update_one(
        {"_id": offer["case_id"], "state": "offered", "offer_id": offer["_id"]},
        {
            "$set": {"state": "waiting"},
            "$unset": {"offer_id": ""},
            "$addToSet": {"passed_slots": offer["slot_id"]},
            "$inc": {"offers_passed": 1},
        },
    )
    booking.release(ctx, offer["slot_id"], offer["case_id"], owner=offer["_id"])
    offers.offer_entry(ctx, offer["case_id"])


def expire_due(ctx: Scheduling, limit: int = 500) -> int:
    """Offers past their hold window lapse; each slot moves on to the next family."""
    expired = 0
    due = {"state": "pending", "hold_until": {"$lte": ctx.now()}}
    for offer in list(ctx.db.offers.find(due).sort("hold_until", 1).limit(limit)):
        if claims.try_take(ctx, f"offer:{offer['_id']}", "expired"):
            ctx.db.offers.update_one({"_id": offer["_id"]}, {"$set": {"state": "expired"}})
            _pass_on(ctx, offer)
            expired += 1
    return expired
