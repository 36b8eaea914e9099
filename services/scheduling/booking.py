"""Appointments: booking a slot, moving, cancelling, and releasing slots for the next family.

A slot is taken by inserting the unique claim ``slot:<id>`` (services/scheduling/claims.py):
of two schedulers booking it at once exactly one insert succeeds, on MongoDB and on
FerretDB alike. The appointment document, inserted next with ``appointment.booked``
in its outbox, is the truth; a claim left behind by a crash before that insert has
no appointment and :func:`release_orphans` frees it.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from services.scheduling import claims, offers
from services.scheduling import repository as repo
from services.scheduling.context import Conflict, NotFound, Scheduling
from services.scheduling.outgoing import event
from shared import outbox

RELEASE = {
    "$set": {"state": "open"},
    "$unset": {"offer_id": "", "case_id": "", "appointment_id": "", "held_at": ""},
}
ORPHAN_AGE = timedelta(minutes=5)


def get_slot(ctx: Scheduling, slot_id: str) -> dict[str, Any]:
    slot = ctx.db.slots.find_one({"_id": slot_id})
    if slot is None:
        raise NotFound(f"slot {slot_id} not found")
    return slot


def get_appointment(ctx: Scheduling, appointment_id: str) -> dict[str, Any]:
    doc = ctx.db.appointments.find_one({"_id": appointment_id})
    if doc is None:
        raise NotFound(f"appointment {appointment_id} not found")
    return doc


def claim(
    ctx: Scheduling, slot_id: str, case_id: str, appointment_id: str, offer_id: str | None = None
) -> dict:
    """Take the slot for one appointment, or raise Conflict if anyone else has it."""
    slot = get_slot(ctx, slot_id)
    taken = f"slot {slot_id} is no longer available"
    if offer_id:
        if not claims.hand_over(ctx, f"slot:{slot_id}", offer_id, appointment_id):
            raise Conflict(taken)
    else:
        if slot["state"] != "open":
            raise Conflict(taken)
        claims.take(ctx, f"slot:{slot_id}", appointment_id, taken)
    ctx.db.slots.update_one(
        {"_id": slot_id},
        {
            "$set": {
                "state": "booked",
                "case_id": case_id,
                "appointment_id": appointment_id,
                "booked_at": ctx.now(),
            },
            "$unset": {"offer_id": "", "held_at": ""},
        },
    )
    return {**slot, "state": "booked", "appointment_id": appointment_id}


def book(
    ctx: Scheduling, case_id: str, slot_id: str, *, by: str, offer_id: str | None = None, series: int = 0
) -> dict[str, Any]:
    appointment_id = uuid.uuid4().hex
    slot = claim(ctx, slot_id, case_id, appointment_id, offer_id)
    doc = {
        "_id": appointment_id,
        "case_id": case_id,
        "slot_id": slot_id,
        "hospital_id": slot["hospital_id"],
        "clinic_type": slot["clinic_type"],
        "start": slot["start"],
        "end": slot["end"],
        "kind": slot["kind"],
        "state": "booked",
        "series": series,
        "booked_by": by,
        "created_at": ctx.now(),
    }
    booked = event("appointment.booked", case_id, repo.appointment_payload(doc))
    ctx.db.appointments.insert_one(outbox.new_document(doc, [booked]))
    if slot["kind"] == "intake":
        withdraw_pending_offer(ctx, case_id, keep=offer_id)
        ctx.db.waitlist.update_one(
            {"_id": case_id},
            {
                "$set": {
                    "state": "booked",
                    "appointment_id": appointment_id,
                    "hospital_id": slot["hospital_id"],
                },
                "$unset": {"offer_id": ""},
            },
        )
    ctx.notify()
    return doc


def withdraw_pending_offer(ctx: Scheduling, case_id: str, keep: str | None = None) -> None:
    """A family booked by other means: their open offer lapses and its slot goes to the next family."""
    for offer in ctx.db.offers.find({"case_id": case_id, "state": "pending"}):
        if offer["_id"] == keep:
            continue
        if claims.try_take(ctx, f"offer:{offer['_id']}", "withdrawn"):
            ctx.db.offers.update_one({"_id": offer["_id"]}, {"$set": {"state": "withdrawn"}})
            release(ctx, offer["slot_id"], case_id, owner=offer["_id"])


def release(ctx: Scheduling, slot_id: str, case_id: str | None, owner: str) -> dict | None:
    """Free a slot still held/booked by ``owner`` (offer or appointment id) and offer it to the next family."""
    if not claims.give_up(ctx, f"slot:{slot_id}", owner):
        return None
    update = {**RELEASE, "$addToSet": {"passed_by": case_id}} if case_id else RELEASE
    ctx.db.slots.update_one({"_id": slot_id}, update)
    return offers.offer_slot(ctx, slot_id)


def cancel(ctx: Scheduling, appointment_id: str, reason: str, *, requeue: bool = True) -> dict[str, Any]:
    appt = get_appointment(ctx, appointment_id)
    cancelled = event(
        "appointment.cancelled", appt["case_id"], {**repo.appointment_payload(appt), "reason": reason}
    )
    claims.take(ctx, f"appointment:{appointment_id}", "cancelled", f"appointment {appointment_id} is closed")
    ctx.db.appointments.update_one(
        {"_id": appointment_id},
        outbox.with_events(
            {"$set": {"state": "cancelled", "reason": reason, "cancelled_at": ctx.now()}}, [cancelled]
        ),
    )
    ctx.notify()
    if appt["kind"] == "intake" and requeue:
        ctx.db.waitlist.update_one(
            {"_id": appt["case_id"], "state": "booked"},
            {
                "$set": {"state": "waiting"},
                "$unset": {"appointment_id": "", "hospital_id": ""},
                "$addToSet": {"passed_slots": appt["slot_id"]},
            },
        )
    release(ctx, appt["slot_id"], appt["case_id"], owner=appointment_id)
    if appt["kind"] == "intake" and requeue:
        offers.offer_entry(ctx, appt["case_id"])
    return {**appt, "state": "cancelled", "reason": reason}


def reschedule(ctx: Scheduling, appointment_id: str, slot_id: str) -> dict[str, Any]:
    appt = get_appointment(ctx, appointment_id)
    if appt["state"] != "booked":
        raise Conflict(f"appointment {appointment_id} is {appt['state']}, not booked")
    slot = claim(ctx, slot_id, appt["case_id"], appointment_id)
    moved = {
        **appt,
        "slot_id": slot_id,
        "hospital_id": slot["hospital_id"],
        "start": slot["start"],
        "end": slot["end"],
    }
    rescheduled = event(
        "appointment.rescheduled",
        appt["case_id"],
        {**repo.appointment_payload(moved), "previous_start": repo.iso(appt["start"])},
    )
    fields = {k: moved[k] for k in ("slot_id", "hospital_id", "start", "end")}
    result = ctx.db.appointments.update_one(
        {"_id": appointment_id, "state": "booked", "slot_id": appt["slot_id"]},
        outbox.with_events({"$set": {**fields, "rescheduled_at": ctx.now()}}, [rescheduled]),
    )
    if result.modified_count != 1:
        claims.give_up(ctx, f"slot:{slot_id}", appointment_id)
        ctx.db.slots.update_one({"_id": slot_id, "appointment_id": appointment_id}, RELEASE)
        raise Conflict(f"appointment {appointment_id} changed meanwhile; try again")
    ctx.notify()
    release(ctx, appt["slot_id"], None, owner=appointment_id)
    return {**moved}


def release_orphans(ctx: Scheduling) -> int:
    """Free claims whose appointment or offer was never written (a crash between the two writes)."""
    cutoff = ctx.now() - ORPHAN_AGE
    freed = 0
    for slot in ctx.db.slots.find({"state": "booked", "booked_at": {"$lt": cutoff}}):
        appt = ctx.db.appointments.find_one({"_id": slot.get("appointment_id")}, {"slot_id": 1, "state": 1})
        if appt is None or appt.get("slot_id") != slot["_id"] or appt.get("state") == "cancelled":
            freed += _free(ctx, slot["_id"], slot.get("appointment_id", ""))
    for slot in ctx.db.slots.find({"state": "held", "held_at": {"$lt": cutoff}}):
        if ctx.db.offers.find_one({"_id": slot.get("offer_id")}, {"_id": 1}) is None:
            freed += _free(ctx, slot["_id"], slot.get("offer_id", ""))
            ctx.db.waitlist.update_one(
                {"_id": slot.get("case_id"), "offer_id": slot.get("offer_id"), "state": "offered"},
                {"$set": {"state": "waiting"}, "$unset": {"offer_id": ""}},
            )
    return freed


def _free(ctx: Scheduling, slot_id: str, owner: str) -> int:
    claims.give_up(ctx, f"slot:{slot_id}", owner)
    return ctx.db.slots.update_one({"_id": slot_id}, RELEASE).modified_count
