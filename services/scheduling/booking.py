"""Appointments: booking a slot, moving, cancelling, and releasing slots for the next family.

A slot is taken by inserting the unique claim ``slot:<id>`` (services/scheduling/claims.py):
of two schedulers booking it at once exactly one insert succeeds, on MongoDB and on
FerretDB alike. The appointment document, inserted next with ``appointment.booked``
in its outbox, is the truth; a claim left behind by a crash before that insert has
no appointment and ``orphans.release_orphans`` frees it.
"""

from __future__ import annotations

import uuid
from typing import Any

from pymongo.errors import DuplicateKeyError

from services.scheduling import claims, entries, offers, openings
from services.scheduling import repository as repo
from services.scheduling.context import Conflict, NotFound, Scheduling
from services.scheduling.outgoing import event

RELEASE = {
    "$set": {"state": "open"},
    "$unset": {"offer_id": "", "case_id": "", "appointment_id": "", "held_at": ""},
}


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
    ctx: Scheduling,
    case_id: str,
    slot_id: str,
    *,
    by: str,
    offer_id: str | None = None,
    series: int = 0,
    appointment_id: str | None = None,
) -> dict[str, Any]:
    """Book ``slot_id``; a caller-chosen ``appointment_id`` (derived from an event) books at most once."""
    if appointment_id is not None and (done := ctx.db.appointments.find_one({"_id": appointment_id})):
        return done
    appointment_id = appointment_id or uuid.uuid4().hex
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
    try:
        ctx.writes.insert_one(ctx.db.appointments, doc, [booked])
    except DuplicateKeyError:  # the same caller-chosen id, booked by a concurrent handler
        _unclaim(ctx, slot_id, appointment_id)
        return get_appointment(ctx, appointment_id)
    if slot["kind"] == "intake":
        withdraw_pending_offer(ctx, case_id, keep=offer_id)
        entries.update(
            ctx,
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
    openings.opened(ctx)
    return offers.offer_slot(ctx, slot_id)


def cancel(ctx: Scheduling, appointment_id: str, reason: str, *, requeue: bool = True) -> dict[str, Any]:
    appt = get_appointment(ctx, appointment_id)
    cancelled = event(
        "appointment.cancelled", appt["case_id"], {**repo.appointment_payload(appt), "reason": reason}
    )
    claims.take(ctx, f"appointment:{appointment_id}", "cancelled", f"appointment {appointment_id} is closed")
    ctx.writes.update_one(
        ctx.db.appointments,
        {"_id": appointment_id},
        {"$set": {"state": "cancelled", "reason": reason, "cancelled_at": ctx.now()}},
        [cancelled],
    )
    if appt["kind"] == "intake" and requeue:
        # Conditional, but harmless on FerretDB: only the winner of ``appointment:<id>`` gets here.
        entries.update(
            ctx,
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


def reschedule(
    ctx: Scheduling, appointment_id: str, slot_id: str, *, offer_id: str | None = None
) -> dict[str, Any]:
    """Move a booking; each move of an appointment is decided by the claim ``move:<id>:<n>``.

    With ``offer_id`` the new slot is the one that offer holds (an accepted expedite offer,
    services/scheduling/expedite.py): its claim passes from the offer to the appointment.

    Two schedulers moving one appointment to different slots would otherwise both pass the
    conditional update on FerretDB and emit two ``appointment.rescheduled``. A crash after
    the claim leaves the new slot booked by an appointment that is not there; the orphan
    duty frees both (services/scheduling/orphans.py).
    """
    appt = get_appointment(ctx, appointment_id)
    if appt["state"] != "booked":
        raise Conflict(f"appointment {appointment_id} is {appt['state']}, not booked")
    moves = int(appt.get("moves", 0))
    slot = claim(ctx, slot_id, appt["case_id"], appointment_id, offer_id)
    changed = f"appointment {appointment_id} changed meanwhile; try again"
    if not claims.try_take(ctx, move_key(appointment_id, moves), slot_id):
        _unclaim(ctx, slot_id, appointment_id)
        raise Conflict(changed)
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
    result = ctx.writes.update_one(
        ctx.db.appointments,
        {"_id": appointment_id, "state": "booked", "slot_id": appt["slot_id"]},
        {"$set": {**fields, "moves": moves + 1, "rescheduled_at": ctx.now()}},
        [rescheduled],
    )
    if result.modified_count != 1:  # cancelled or recorded meanwhile (those hold their own claim)
        claims.give_up(ctx, move_key(appointment_id, moves), slot_id)
        _unclaim(ctx, slot_id, appointment_id)
        raise Conflict(changed)
    release(ctx, appt["slot_id"], None, owner=appointment_id)
    return {**moved, "moves": moves + 1}


def move_key(appointment_id: str, moves: int) -> str:
    return f"move:{appointment_id}:{moves}"


def _unclaim(ctx: Scheduling, slot_id: str, appointment_id: str) -> None:
    claims.give_up(ctx, f"slot:{slot_id}", appointment_id)
    ctx.db.slots.update_one({"_id": slot_id, "appointment_id": appointment_id}, RELEASE)
    openings.opened(ctx)
