"""Network rebalancing: the optimiser's plan over the waiting list and every open slot, and offers from it.

The plan is advisory until applied; applying makes one offer per planned pair
(each still a conditional claim, so a slot taken meanwhile is simply skipped).
The exact solver's memory grows with feasible pairs, so a run takes at most
``MAX_ENTRIES`` families in fair order; those further back could not be served in
the horizon anyway when demand exceeds capacity.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from services.scheduling import listing, offers
from services.scheduling import repository as repo
from services.scheduling.context import Scheduling
from services.scheduling.domain.model import BANDS
from services.scheduling.domain.optimiser import solve

MAX_ENTRIES = 3000
MAX_SLOTS = 6000


def plan(ctx: Scheduling, hospital_id: str | None = None) -> tuple[Any, dict[str, dict], dict[str, dict]]:
    """The first ``MAX_ENTRIES`` waiting families in fair order (read as index ranges), and the open slots."""
    lanes = listing.lanes(["waiting"], [*BANDS, None], [hospital_id] if hospital_id else None)
    first, _ = listing.page(ctx.db, "priority", lanes, None, MAX_ENTRIES)
    entry_docs = {d["_id"]: d for d in first}
    entries = [repo.entry_from_doc(d) for d in first]
    query: dict[str, Any] = {
        "state": "open",
        "kind": "intake",
        "start": {"$gte": offers.earliest_start(ctx, False)},
    }
    if hospital_id:
        query["hospital_id"] = hospital_id
    slot_docs = {d["_id"]: d for d in ctx.db.slots.find(query).sort("start", 1).limit(MAX_SLOTS)}
    slots = [repo.slot_from_doc(d) for d in slot_docs.values()]
    result = solve(entries, slots, repo.hospitals(ctx.db), ctx.today())
    return result, entry_docs, slot_docs


def rebalance(ctx: Scheduling, *, apply: bool, hospital_id: str | None = None) -> dict[str, Any]:
    result, entry_docs, slot_docs = plan(ctx, hospital_id)
    offered = 0
    if apply:
        for pair in result.assignments:
            offered += (
                offers.make_offer(ctx, entry_docs[pair.case_id], slot_docs[pair.slot_id], by="rebalance")
                is not None
            )
    return {
        "applied": apply,
        "offers_made": offered,
        "objective": round(result.objective, 2),
        "breaches": result.breaches,
        "unserved": len(result.unserved),
        "assignments": [
            {**asdict(a), "slot_day": a.slot_day.isoformat(), "cost": round(a.cost, 2)}
            for a in result.assignments
        ],
    }
