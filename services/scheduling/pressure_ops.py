"""Pressure from the running counts, the coming capacity, and the level changes to publish.

Nothing here reads the whole list: who waits where comes from ``pressure_counts``
(one ``_id`` lookup per hospital and band), capacity from the sessions and one
aggregation over the window's open slots, and suggestions read, for each pressured
hospital and band that has somewhere better to send families, at most
``SUGGEST_SCAN`` families per queued state in fair order (an index range).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import date, datetime, time, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from services.scheduling import metrics, pressure_counts
from services.scheduling import repository as repo
from services.scheduling.context import Scheduling
from services.scheduling.domain.model import BANDS, QUEUED, Entry
from services.scheduling.domain.pressure import BandPressure, Capacity, from_counts, movable, suggestions
from services.scheduling.outgoing import event

SUGGEST_SCAN = 100
"""Families read per pressured hospital, band and state when looking for moves (fair order)."""


def _weekly_rate(doc: dict[str, Any]) -> float:
    minutes = (
        datetime.combine(datetime.min, time.fromisoformat(doc["end"]))
        - datetime.combine(datetime.min, time.fromisoformat(doc["start"]))
    ).seconds // 60
    return float(minutes // int(doc["slot_minutes"]))


def capacity(ctx: Scheduling, hospital_ids: list[str], window_end: date) -> dict[str, Capacity]:
    """Weekly intake rate from active sessions; open and held intake slots per day in the window."""
    found = {h: Capacity() for h in hospital_ids}
    for doc in ctx.db.sessions.find({"active": True, "kind": "intake"}):
        if doc["hospital_id"] in found:
            found[doc["hospital_id"]].weekly_rate += _weekly_rate(doc)
    upcoming = {
        "state": {"$in": ["open", "held"]},
        "kind": "intake",
        "start": {"$gte": ctx.now()},
        "day": {"$lte": window_end.isoformat()},
    }
    per_day = [
        {"$match": upcoming},
        {"$group": {"_id": {"hospital": "$hospital_id", "day": "$day"}, "n": {"$sum": 1}}},
    ]
    for row in ctx.db.slots.aggregate(per_day):
        hospital_id, day = row["_id"]["hospital"], date.fromisoformat(row["_id"]["day"])
        if hospital_id in found:
            found[hospital_id].open_days += [day] * int(row["n"])
    return found


def rows(ctx: Scheduling) -> list[BandPressure]:
    """Every hospital's pressure per band, from the counts (no list scan)."""
    hospital_ids = [h.id for h in repo.hospitals(ctx.db)]
    window_end = ctx.today() + timedelta(weeks=ctx.config.pressure_weeks)
    counts = pressure_counts.read(ctx.db, hospital_ids, BANDS)
    cap = capacity(ctx, hospital_ids, window_end)
    return from_counts(counts, cap, ctx.today(), window_end, ctx.config.thresholds)


def _movable_families(
    ctx: Scheduling, found: list[BandPressure]
) -> tuple[list[Entry], dict[str, str], dict[str, list[str]]]:
    """The front of each queue that suggestions may move families from (see ``movable``)."""
    known = {r.hospital_id for r in found}
    families, home, eligible = [], {}, {}
    for source in movable(found):
        for state in QUEUED:
            query = {"home_hospital": source.hospital_id, "state": state, "band": source.band}
            for doc in ctx.db.waitlist.find(query).sort("sort_keys.priority", 1).limit(SUGGEST_SCAN):
                entry = repo.entry_from_doc(doc)
                families.append(entry)
                home[entry.case_id] = doc["home_hospital"]
                eligible[entry.case_id] = [h for h in doc.get("eligible_hospitals", []) if h in known]
    return families, home, eligible


def report(ctx: Scheduling, hospital_id: str | None = None) -> dict[str, Any]:
    found = rows(ctx)
    metrics.publish(found)
    moves = suggestions(*_movable_families(ctx, found), found)
    if hospital_id:
        found = [r for r in found if r.hospital_id == hospital_id]
        moves = [m for m in moves if hospital_id in (m.from_hospital, m.to_hospital)]
    return {
        "as_of": repo.iso(ctx.now()),
        "weeks": ctx.config.pressure_weeks,
        "hospitals": [asdict(r) for r in found],
        "suggestions": [asdict(m) for m in moves],
    }


def publish_changes(ctx: Scheduling) -> int:
    """Emit ``waitlist.pressure_changed`` for each hospital and band whose level moved.

    Duties may run in several processes, and on FerretDB both may pass the ``level``
    guard; the event id is therefore fixed by the row's change count and the transition,
    so both write the same id and consumers' inboxes drop the second.
    """
    found = rows(ctx)
    metrics.publish(found)
    last = {d["_id"]: d for d in ctx.db.pressure.find({}, {"level": 1, "changes": 1})}
    changed = 0
    for row in found:
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
