"""What happens after an appointment: attended starts the follow-up series, a no-show is re-offered once.

No-show policy (a missed appointment is a safeguarding signal, not a reason to
discharge): the first no-show puts the family back in its place on the list (intake)
or books the next follow-up; the second emits ``waitlist.followup_needed`` so that
a clinician calls the family instead of the system offering yet another slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from services.scheduling import booking, claims, entries, offers
from services.scheduling import repository as repo
from services.scheduling.context import Conflict, Scheduling
from services.scheduling.outgoing import derived_id, event
from shared import inbox
from shared.events import Event

NO_SHOW_LIMIT = 2
SERIES_SLACK_DAYS = 2


def record(ctx: Scheduling, appointment_id: str, outcome: str) -> dict[str, Any]:
    appt = booking.get_appointment(ctx, appointment_id)
    if appt["state"] != "booked":
        raise Conflict(f"appointment {appointment_id} is {appt['state']}, not booked")
    if repo.aware(appt["start"]) > ctx.now():
        raise Conflict("attendance can be recorded only once the appointment has started")
    payload = repo.appointment_payload(appt)
    name = "appointment.attended"
    if outcome == "no_show":
        name = "appointment.no_show"
        payload["no_show_count"] = (
            ctx.db.appointments.count_documents({"case_id": appt["case_id"], "state": "no_show"}) + 1
        )
    claims.take(
        ctx, f"appointment:{appointment_id}", outcome, f"appointment {appointment_id} was recorded meanwhile"
    )
    ctx.writes.update_one(
        ctx.db.appointments,
        {"_id": appointment_id},
        {"$set": {"state": outcome, "recorded_at": ctx.now()}},
        [event(name, appt["case_id"], payload)],
    )
    follow: dict[str, Any] = {}
    if outcome == "attended" and appt["kind"] == "intake":
        entries.update(ctx, {"_id": appt["case_id"]}, {"$set": {"state": "seen"}})
        follow["follow_ups"] = book_series(
            ctx,
            appt["case_id"],
            appt["hospital_id"],
            repo.aware(appt["start"]),
            ctx.config.follow_up_count,
            ctx.config.follow_up_interval_days,
        )
        if ctx.config.follow_up_count and not follow["follow_ups"]:
            flag_followup(ctx, appt["case_id"], appt["hospital_id"], "no_follow_up_capacity", 0)
    elif outcome == "no_show":
        follow["next"] = _after_no_show(ctx, appt, payload["no_show_count"])
    return {**appt, "state": outcome, **follow}


def _after_no_show(ctx: Scheduling, appt: dict[str, Any], count: int) -> str:
    case_id = appt["case_id"]
    if count >= NO_SHOW_LIMIT:
        flag_followup(ctx, case_id, appt["hospital_id"], "repeated_no_show", count)
        return "followup_needed"
    if appt["kind"] == "intake":
        # Conditional, but harmless on FerretDB: only the winner of ``appointment:<id>`` gets here.
        entries.update(
            ctx,
            {"_id": case_id, "state": "booked"},
            {
                "$set": {"state": "waiting", "no_show_count": count},
                "$unset": {"appointment_id": "", "hospital_id": ""},
            },
        )
        offers.offer_entry(ctx, case_id)
        return "re_offered"
    booked = book_series(ctx, case_id, appt["hospital_id"], ctx.now(), 1, 1)
    return "rebooked" if booked else "followup_needed"


def flag_followup(
    ctx: Scheduling,
    case_id: str,
    hospital_id: str | None,
    reason: str,
    count: int,
    cause: Event | None = None,
    fields: dict[str, Any] | None = None,
) -> None:
    """Emit ``waitlist.followup_needed``; with ``cause`` (a consumed event) at most once per event.

    The flag and the cause's applied marker are one write, and the event id is derived from
    the cause, so a redelivery changes nothing and even two concurrent handlers that both pass
    the marker's guard on FerretDB emit one id, which consumers' inboxes dedupe.
    """
    needed = event(
        "waitlist.followup_needed",
        case_id,
        {"case_id": case_id, "hospital_id": hospital_id, "reason": reason, "no_show_count": count},
        event_id=derived_id(cause, "followup_needed") if cause else None,
    )
    query: dict[str, Any] = {"_id": case_id}
    update: dict[str, Any] = {
        "$set": {**(fields or {}), "state": "followup_needed", "followup_reason": reason}
    }
    if cause is not None:
        query, update = inbox.once(cause, query), inbox.record_applied(cause, update)
    result = entries.update(ctx, query, update, events=[needed])
    if result is None or result.matched_count == 0:
        if ctx.db.waitlist.find_one({"_id": case_id}, {"_id": 1}) is not None:
            return  # the entry exists, so the guard held: this cause was already applied
        doc = {"_id": case_id, **update["$set"]}
        if cause is not None:
            doc[inbox.APPLIED_FIELD] = [cause.dedupe_key]
        try:
            entries.insert(ctx, doc, [needed])
        except DuplicateKeyError:
            return  # created meanwhile by another handler; its flag stands


def book_series(
    ctx: Scheduling,
    case_id: str,
    hospital_id: str,
    after: datetime,
    count: int,
    interval_days: int,
    ids: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Book ``count`` follow-ups about ``interval_days`` apart at the family's hospital.

    ``ids`` fixes the appointment ids (derived from an event), so a retry books each at most once.
    """
    entry = ctx.db.waitlist.find_one({"_id": case_id}) or {}
    weekdays = (entry.get("constraints") or {}).get("weekdays") or []
    clinic = entry.get("clinic_type", "school_refusal")
    booked: list[dict[str, Any]] = []
    last = after
    for k in range(1, count + 1):
        earliest = max(
            after + timedelta(days=k * interval_days - SERIES_SLACK_DAYS), last + timedelta(days=1)
        )
        query = {
            "hospital_id": hospital_id,
            "kind": "follow_up",
            "clinic_type": clinic,
            "state": "open",
            "start": {"$gte": max(earliest, ctx.now())},
        }
        for slot in ctx.db.slots.find(query).sort("start", 1).limit(50):
            if weekdays and slot["weekday"] not in weekdays:
                continue
            try:
                appointment_id = ids[k - 1] if k <= len(ids) else None
                booked.append(
                    booking.book(
                        ctx, case_id, slot["_id"], by="series", series=k, appointment_id=appointment_id
                    )
                )
            except Conflict:
                continue
            last = repo.aware(slot["start"])
            break
    return booked
