"""Pressure from the live store: who waits where, what capacity is coming, and the level changes to publish."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime, time, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from services.scheduling import metrics
from services.scheduling import repository as repo
from services.scheduling.context import Scheduling
from services.scheduling.domain.geography import travel_km
from services.scheduling.domain.model import Entry
from services.scheduling.domain.pressure import BandPressure, Capacity, compute, suggestions
from services.scheduling.outgoing import event

QUEUED = ("waiting", "offered")


def _weekly_rate(doc: dict[str, Any]) -> float:
    minutes = (
        datetime.combine(datetime.min, time.fromisoformat(doc["end"]))
        - datetime.combine(datetime.min, time.fromisoformat(doc["start"]))
    ).seconds // 60
    return float(minutes // int(doc["slot_minutes"]))


def snapshot(ctx: Scheduling) -> tuple[list[BandPressure], list[Entry], dict[str, str], dict[str, list[str]]]:
    hospitals = {h.id: h for h in repo.hospitals(ctx.db)}
    entries, home, eligible = [], {}, {}
    for doc in ctx.db.waitlist.find({"state": {"$in": list(QUEUED)}}):
        entry = repo.entry_from_doc(doc)
        options = [h for h in doc.get("eligible_hospitals", []) if h in hospitals]
        if not options:
            continue
        entries.append(entry)
        eligible[entry.case_id] = options
        home[entry.case_id] = min(
            options,
            key=lambda h: (travel_km(entry.constraints.home_district, hospitals[h].location) or 0.0, h),
        )
    window_end = ctx.today() + timedelta(weeks=ctx.config.pressure_weeks)
    capacity = {h: Capacity() for h in hospitals}
    for doc in ctx.db.sessions.find({"active": True, "kind": "intake"}):
        if doc["hospital_id"] in capacity:
            capacity[doc["hospital_id"]].weekly_rate += _weekly_rate(doc)
    upcoming = {
        "kind": "intake",
        "state": {"$in": ["open", "held"]},
        "start": {"$gte": ctx.now()},
        "day": {"$lte": window_end.isoformat()},
    }
    for slot in ctx.db.slots.find(upcoming, {"hospital_id": 1, "day": 1}):
        if slot["hospital_id"] in capacity:
            capacity[slot["hospital_id"]].open_days.append(datetime.fromisoformat(slot["day"]).date())
    rows = compute(entries, home, capacity, ctx.today(), window_end, ctx.config.thresholds)
    return rows, entries, home, eligible


def report(ctx: Scheduling, hospital_id: str | None = None) -> dict[str, Any]:
    rows, entries, home, eligible = snapshot(ctx)
    metrics.publish(rows)
    moves = suggestions(entries, home, eligible, rows)
    if hospital_id:
        rows = [r for r in rows if r.hospital_id == hospital_id]
        moves = [m for m in moves if hospital_id in (m.from_hospital, m.to_hospital)]
    return {
        "as_of": repo.iso(ctx.now()),
        "weeks": ctx.config.pressure_weeks,
        "hospitals": [asdict(r) for r in rows],
        "suggestions": [asdict(m) for m in moves],
    }


def publish_changes(ctx: Scheduling) -> int:
    """Emit ``waitlist.pressure_changed`` for each hospital and band whose level moved.

    Duties may run in several processes, and on FerretDB both may pass the ``level``
    guard; the event id is therefore fixed by the row's change count and the transition,
    so both write the same id and consumers' inboxes drop the second.
    """
    rows, *_ = snapshot(ctx)
    metrics.publish(rows)
    last = {d["_id"]: d for d in ctx.db.pressure.find({}, {"level": 1, "changes": 1})}
    changed = 0
    for row in rows:
        key = f"{row.hospital_id}:{row.band}"
        previous = last.get(key, {}).get("level", "normal")
        fields = {**asdict(row), "updated_at": ctx.now()}
        if row.level == previous:
            ctx.db.pressure.update_one({"_id": key}, {"$set": fields}, upsert=True)
            continue
        count = int(last.get(key, {}).get("changes", 0))
        data = {k: v for k, v in asdict(row).items() if k != "oldest_wait_days"}
        changed_event = event(
            "waitlist.pressure_changed",
            row.hospital_id,
            {**data, "previous_level": previous},
            event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"pressure:{key}:{count}:{previous}:{row.level}").hex,
        )
        fields["changes"] = count + 1
        if key in last:
            ctx.writes.update_one(
                ctx.db.pressure, {"_id": key, "level": previous}, {"$set": fields}, [changed_event]
            )
        else:
            try:
                ctx.writes.insert_one(ctx.db.pressure, {"_id": key, **fields}, [changed_event])
            except DuplicateKeyError:
                continue  # another duty process published this first change
        changed += 1
    return changed
