"""Hospitals, weekly sessions, holidays and the slots they produce over the rolling horizon."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.scheduling import entries, openings
from services.scheduling import repository as repo
from services.scheduling.context import Conflict, NotFound, Scheduling
from services.scheduling.domain.calendar import expand
from services.scheduling.domain.matching import eligible_hospitals
from services.scheduling.domain.model import Hospital
from shared import store

DUPLICATE_KEY = 11000


def put_hospital(ctx: Scheduling, hospital_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Create or replace a hospital, then refresh which waiting families can use it."""
    doc = {"_id": hospital_id, **data, "updated_at": ctx.now()}
    ctx.db.hospitals.replace_one({"_id": hospital_id}, doc, upsert=True)
    ctx.forget_hospitals()
    refresh_eligibility(ctx)
    return doc


def get_hospital(ctx: Scheduling, hospital_id: str) -> dict[str, Any]:
    doc = ctx.db.hospitals.find_one({"_id": hospital_id})
    if doc is None:
        raise NotFound(f"hospital {hospital_id} not found")
    return doc


def refresh_eligibility(ctx: Scheduling) -> int:
    """Recompute where open entries may go and their home hospital (hospitals changed).

    A full pass over the entries that are or may again be queued (a booking can be cancelled):
    hospitals change rarely (an administrator's PUT), and every family's eligibility can
    depend on the one that changed.
    """
    hospitals = repo.hospitals(ctx.db)
    changed = 0
    for stale in ctx.db.waitlist.find(
        {"state": {"$in": ["waiting", "offered", "awaiting_triage", "booked"]}}
    ):
        if _eligibility_change(stale, hospitals) is None:
            continue
        # The cursor's copy may be seconds old by now: a re-triage or escalation written since
        # would be overwritten by it (HZ-15). Decide and write from the entry as it is now, so
        # only FerretDB's own read → write window (milliseconds) is left for raises.py to repair.
        doc = ctx.db.waitlist.find_one({"_id": stale["_id"]})
        update = None if doc is None else _eligibility_change(doc, hospitals)
        if update is not None:
            entries.update(ctx, {"_id": doc["_id"]}, update, before=doc)
            changed += 1
    return changed


def _eligibility_change(doc: dict[str, Any], hospitals: list[Hospital]) -> dict[str, Any] | None:
    """The ``$set`` of the entry's eligibility and home hospital when they changed, else None."""
    eligible = eligible_hospitals(
        repo.constraints_from_doc(doc.get("constraints")), doc.get("clinic_type", "school_refusal"), hospitals
    )
    home = entries.home_hospital(doc.get("constraints"), eligible, hospitals)
    if eligible == doc.get("eligible_hospitals") and home == doc.get("home_hospital"):
        return None
    return {"$set": {"eligible_hospitals": eligible, "home_hospital": home}}


def add_session(ctx: Scheduling, hospital_id: str, data: dict[str, Any]) -> dict[str, Any]:
    get_hospital(ctx, hospital_id)
    doc = {
        "_id": uuid.uuid4().hex,
        "hospital_id": hospital_id,
        "active": True,
        **data,
        "created_at": ctx.now(),
    }
    ctx.db.sessions.insert_one(doc)
    return doc


def end_session(ctx: Scheduling, hospital_id: str, session_id: str) -> int:
    """Stop a session; its future open slots close (booked ones stay, for schedulers to move)."""
    result = ctx.db.sessions.update_one(
        {"_id": session_id, "hospital_id": hospital_id}, {"$set": {"active": False}}
    )
    if result.matched_count == 0:
        raise NotFound(f"session {session_id} not found")
    # Not a claim (see add_holiday): a slot booked at the same moment keeps its booking.
    closed = ctx.db.slots.update_many(
        {"session_id": session_id, "state": "open", "start": {"$gte": ctx.now()}},
        {"$set": {"state": "closed"}},
    )
    return closed.modified_count


def add_holiday(ctx: Scheduling, hospital_id: str, day: date, reason: str) -> dict[str, Any]:
    """Close a hospital (or the region, ``*``) for a day; returns the bookings that need moving."""
    if hospital_id != "*":
        get_hospital(ctx, hospital_id)
    try:
        ctx.db.holidays.insert_one(
            {
                "_id": f"{hospital_id}:{day.isoformat()}",
                "hospital_id": hospital_id,
                "date": day.isoformat(),
                "reason": reason,
            }
        )
    except DuplicateKeyError:
        raise Conflict(f"{day} is already a holiday for {hospital_id}") from None
    scope: dict[str, Any] = {"day": day.isoformat()}
    if hospital_id != "*":
        scope["hospital_id"] = hospital_id
    # Not a claim: a booking or offer racing this close can land on the closed day and, if it
    # commits after the read below, is missing from ``to_reschedule`` (docs/services/scheduling.md).
    ctx.db.slots.update_many({**scope, "state": "open"}, {"$set": {"state": "closed"}})
    affected = [d["appointment_id"] for d in ctx.db.slots.find({**scope, "state": "booked"})]
    return {"hospital_id": hospital_id, "date": day.isoformat(), "reason": reason, "to_reschedule": affected}


def holidays(ctx: Scheduling) -> dict[str, set[date]]:
    found: dict[str, set[date]] = defaultdict(set)
    for doc in ctx.db.holidays.find({}):
        found[doc["hospital_id"]].add(date.fromisoformat(doc["date"]))
    return found


def materialise(ctx: Scheduling, days: int | None = None) -> int:
    """Create the slots of every active session over the horizon; existing ones are left as they are."""
    first = ctx.today() + timedelta(days=1)
    closed = holidays(ctx)
    created = 0
    for doc in ctx.db.sessions.find({"active": True}):
        session = repo.session_from_doc(doc)
        slots = expand([session], first, days or ctx.config.horizon_days, closed, ctx.config.tz)
        if not slots:
            continue
        docs = [{**repo.slot_to_doc(s, ctx.now()), "session_id": session.id} for s in slots]
        try:
            created += len(ctx.db.slots.insert_many(docs, ordered=False).inserted_ids)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            created += exc.details.get("nInserted", 0)
    if created:
        openings.opened(ctx)
    store.upsert(ctx.db.meta, "materialise", {"$set": {"at": ctx.now()}})
    return created


WEEKS_BACKFILLED = "slot_weeks"


def backfill_weeks(ctx: Scheduling) -> int:
    """Give slots made before the ``week`` field theirs (offers find open slots by week); once per store.

    One streaming pass over the slots without it; run by the counts' writer on its first pass.
    """
    if ctx.db.meta.find_one({"_id": WEEKS_BACKFILLED}, {"_id": 1}) is not None:
        return 0
    done = 0
    for doc in ctx.db.slots.find({"week": {"$exists": False}}, {"day": 1, "start": 1}).batch_size(500):
        day = (
            date.fromisoformat(doc["day"])
            if doc.get("day")
            else repo.aware(doc["start"]).astimezone(ctx.config.tz).date()
        )
        ctx.db.slots.update_one({"_id": doc["_id"]}, {"$set": {"week": repo.week_of(day)}})
        done += 1
    if done:
        openings.opened(ctx)
    store.upsert(ctx.db.meta, WEEKS_BACKFILLED, {"$set": {"at": ctx.now(), "slots": done}})
    return done
