"""The regional waitlist, fed by assessment and referral events.

Each entry is keyed by case id, so a redelivered ``assessment.triaged`` finds its
entry and changes nothing; a re-triage applies only if its ``triage_version`` is
newer. Escalation may arrive before triage: it leaves an ``awaiting_triage``
placeholder that the triage completes. Every state change and its event are one write.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from services.scheduling import booking, entries, offers, raises
from services.scheduling import repository as repo
from services.scheduling.context import Scheduling
from services.scheduling.domain.matching import eligible_hospitals
from services.scheduling.inbound import EscalatedIn, ReviewDecidedIn, TriagedIn, WithdrawnIn
from services.scheduling.outgoing import derived_id, event
from shared.events import Event

OPEN_STATES = ("awaiting_triage", "waiting", "offered")


def _added(doc: dict[str, Any], cause: Event) -> Event:
    """Its id is fixed by the triage event, so two concurrent handlers of one triage emit one id."""
    return event(
        "waitlist.entry_added",
        doc["_id"],
        {
            "case_id": doc["_id"],
            "band": doc["band"],
            "score": doc["score"],
            "target_date": doc["target_date"],
            "hospitals": doc["eligible_hospitals"],
            "urgent": bool(doc.get("urgent")),
        },
        event_id=derived_id(cause, "entry_added"),
    )


def on_triaged(ctx: Scheduling, message: Event, *, emit: bool = True) -> None:
    """``emit=False``: HZ-15's repair re-applying a lost write whose event is still in flight."""
    data = TriagedIn().load(message.data)
    case_id, version = data["case_id"], data["triage_version"]
    raw = {k: v for k, v in (data.get("constraints") or {}).items() if v not in (None, [])}
    constraints = repo.constraints_from_doc(raw)
    hospitals = ctx.hospitals()
    eligible = eligible_hospitals(constraints, data["clinic_type"], hospitals)
    fields: dict[str, Any] = {
        "band": data["band"],
        "score": data["score"],
        "referred_on": data["referred_on"].isoformat(),
        "target_date": (data["referred_on"] + timedelta(days=data["target_days"])).isoformat(),
        "target_days": data["target_days"],
        "clinic_type": data["clinic_type"],
        "constraints": raw,
        "eligible_hospitals": eligible,
        "home_hospital": entries.home_hospital(raw, eligible, hospitals),
        "triage_version": version,
        "updated_at": ctx.now(),
    }
    # Insert first: a new family is the common case (one round trip fewer than reading first);
    # the unique _id sends a redelivery, a re-triage or an escalated placeholder to the update.
    doc = {
        "_id": case_id,
        "state": "waiting",
        "urgent": False,
        "passed_slots": [],
        "created_at": ctx.now(),
        **fields,
    }
    try:
        written = entries.insert(ctx, doc, [_added(doc, message)])
    except DuplicateKeyError:
        existing = ctx.db.waitlist.find_one({"_id": case_id})
        if existing is None:  # removed between the two (entries are never deleted today)
            return
    else:
        offers.offer_entry(ctx, case_id, written, hospitals, fresh=True)
        return
    if existing.get("triage_version", 0) >= version or existing.get("state") == "removed":
        return
    raises.record(ctx, "triage", message, version)  # HZ-15: a later write may lose it; repaired
    if existing.get("urgent_target") and existing["urgent_target"] < fields["target_date"]:
        fields["target_date"] = existing["urgent_target"]
    state = "waiting" if existing.get("state") == "awaiting_triage" else existing.get("state")
    merged = {**existing, **fields, "state": state}
    guard = {
        "_id": case_id,
        "$or": [{"triage_version": {"$lt": version}}, {"triage_version": {"$exists": False}}],
    }
    entries.update(
        ctx,
        guard,
        {"$set": {**fields, "state": state}},
        events=[_added(merged, message)] if emit else [],
        before=existing,
    )
    if state == "waiting":
        offers.offer_entry(ctx, case_id, hospitals=hospitals)


def on_escalated(ctx: Scheduling, message: Event) -> None:
    """Risk: the case jumps the queue (urgent first), with a short hold window and the deadline as target."""
    data = EscalatedIn().load(message.data)
    case_id = data["case_id"]
    deadline = data["contact_deadline"].astimezone(ctx.config.tz).date().isoformat()
    urgent = {
        "urgent": True,
        "urgent_reasons": data["reasons"],
        "urgent_target": deadline,
        "contact_deadline": data["contact_deadline"],
    }
    existing = ctx.db.waitlist.find_one({"_id": case_id})
    if existing is None:
        try:
            entries.insert(
                ctx,
                {
                    "_id": case_id,
                    "state": "awaiting_triage",
                    "passed_slots": [],
                    "created_at": ctx.now(),
                    **urgent,
                },
            )
            return
        except DuplicateKeyError:
            existing = ctx.db.waitlist.find_one({"_id": case_id})
    raises.record(ctx, "escalation", message)  # HZ-15: a later write may lose it; repaired
    if existing.get("target_date") and existing["target_date"] > deadline:
        urgent["target_date"] = deadline
    entries.update(ctx, {"_id": case_id}, {"$set": urgent}, before=existing)
    if existing.get("state") == "waiting":
        offers.offer_entry(ctx, case_id)


CLOSING_REVIEW = frozenset({"rejected", "redirected"})


def on_review_decided(ctx: Scheduling, message: Event) -> None:
    """A referral rejected or redirected at review will never be triaged: the placeholder an
    escalation left (``awaiting_triage``) is taken off the list. Nothing else can exist before
    acceptance; any other outcome, or any other state, is left alone (idempotent)."""
    data = ReviewDecidedIn().load(message.data)
    if data["outcome"] not in CLOSING_REVIEW:
        return
    existing = ctx.db.waitlist.find_one({"_id": data["case_id"]})
    if existing is None or existing.get("state") != "awaiting_triage":
        return
    removed = {"state": "removed", "removed_reason": f"review_{data['outcome']}", "removed_at": ctx.now()}
    entries.update(ctx, {"_id": data["case_id"]}, {"$set": removed}, before=existing)


def on_withdrawn(ctx: Scheduling, message: Event) -> None:
    """The referral is gone: off the list, pending offers lapse, future bookings are cancelled."""
    data = WithdrawnIn().load(message.data)
    case_id = data["case_id"]
    entries.update(
        ctx,
        {"_id": case_id},
        {"$set": {"state": "removed", "removed_reason": data["reason"], "removed_at": ctx.now()}},
    )
    booking.withdraw_pending_offer(ctx, case_id)
    for appt in ctx.db.appointments.find(
        {"case_id": case_id, "state": "booked", "start": {"$gt": ctx.now()}}
    ):
        booking.cancel(ctx, appt["_id"], "referral_withdrawn", requeue=False)
