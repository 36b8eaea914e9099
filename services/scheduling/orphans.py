"""Claims left behind by a crash between two writes, freed by the duty after ``ORPHAN_AGE``.

A slot claim is inserted before the appointment or offer it belongs to; a process that
dies in between leaves the slot booked/held by nobody (and, for an offer, its family's
round open; for a move, the appointment's move claim taken). Freeing is conditional on the
orphan still being the slot's owner (claim and slot view), so two duty processes, or
one that read the slot before someone else booked it, cannot reopen a live booking.
"""

from __future__ import annotations

from datetime import timedelta

from services.scheduling import booking, claims, openings, rounds
from services.scheduling.context import Scheduling

ORPHAN_AGE = timedelta(minutes=5)


def release_orphans(ctx: Scheduling) -> int:
    """Free claims whose appointment or offer was never written (a crash between the two writes)."""
    cutoff = ctx.now() - ORPHAN_AGE
    freed = 0
    for slot in ctx.db.slots.find({"state": "booked", "booked_at": {"$lt": cutoff}}):
        owner = slot.get("appointment_id", "")
        appt = ctx.db.appointments.find_one({"_id": owner}, {"slot_id": 1, "state": 1, "moves": 1})
        if appt is None or appt.get("slot_id") != slot["_id"] or appt.get("state") == "cancelled":
            freed += _free(ctx, slot["_id"], "appointment_id", owner)
        if appt is not None and appt.get("slot_id") != slot["_id"]:  # a move that never landed
            claims.give_up(ctx, booking.move_key(owner, int(appt.get("moves", 0))), slot["_id"])
    for slot in ctx.db.slots.find({"state": "held", "held_at": {"$lt": cutoff}}):
        owner = slot.get("offer_id", "")
        if ctx.db.offers.find_one({"_id": owner}, {"_id": 1}) is None:
            rounds.close(ctx, owner, "abandoned")  # the family's next offer round may start
            freed += _free(ctx, slot["_id"], "offer_id", owner)
            ctx.db.waitlist.update_one(
                {"_id": slot.get("case_id"), "offer_id": owner, "state": "offered"},
                {"$set": {"state": "waiting"}, "$unset": {"offer_id": ""}},
            )
    return freed


def _free(ctx: Scheduling, slot_id: str, field: str, owner: str) -> int:
    claims.give_up(ctx, f"slot:{slot_id}", owner)
    freed = ctx.db.slots.update_one({"_id": slot_id, field: owner}, booking.RELEASE).modified_count
    openings.opened(ctx)
    return freed
