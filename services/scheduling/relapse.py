"""``followup.relapse_detected``: one extra early follow-up at the family's hospital, or a call.

Exactly once across a crash and redelivery, without transactions: the extra follow-up's
appointment id is derived from the relapse event, so booking it again finds the first
booking (``booking.book``), and the event is recorded as applied on the entry only once
that appointment exists. A crash between the two leaves the booking and no marker; the
redelivery finds the booking, books nothing and writes the marker. When no slot is free,
the ``followup_needed`` flag and the marker are one write (``attendance.flag_followup``).
"""

from __future__ import annotations

from services.scheduling import attendance
from services.scheduling.context import Scheduling
from services.scheduling.inbound import RelapseIn
from services.scheduling.outgoing import derived_id
from shared import inbox
from shared.events import Event


def follow_up_id(message: Event) -> str:
    return derived_id(message, "relapse_follow_up")


def on_relapse(ctx: Scheduling, message: Event) -> None:
    case_id = RelapseIn().load(message.data)["case_id"]
    entry = ctx.db.waitlist.find_one({"_id": case_id}) or {}
    if message.dedupe_key in entry.get(inbox.APPLIED_FIELD, []):
        return
    hospital_id = entry.get("hospital_id")
    handled = {"relapse_at": ctx.now()}
    if hospital_id and book_extra(ctx, case_id, hospital_id, message):
        ctx.db.waitlist.update_one(
            inbox.once(message, {"_id": case_id}), inbox.record_applied(message, {"$set": handled})
        )
        return
    attendance.flag_followup(ctx, case_id, hospital_id, "relapse", 0, cause=message, fields=handled)


def book_extra(ctx: Scheduling, case_id: str, hospital_id: str, message: Event) -> bool:
    """The relapse's one extra follow-up: True once it exists (booked now or before a crash)."""
    appointment_id = follow_up_id(message)
    if ctx.db.appointments.find_one({"_id": appointment_id}, {"_id": 1}) is not None:
        return True
    return bool(attendance.book_series(ctx, case_id, hospital_id, ctx.now(), 1, 1, ids=[appointment_id]))
