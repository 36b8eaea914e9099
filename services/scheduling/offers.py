"""Offers with a hold window: a slot held for one family until they accept, decline or time runs out.

Making an offer takes two unique claims: the family's next offer round
(services/scheduling/rounds.py: at most one open offer per family) and the slot
(services/scheduling/claims.py: one holder per slot); losing either undoes the other
and tries no further. The entry's ``waiting → offered`` write is the readable view. The
offer document carries ``waitlist.offer_made`` in its outbox. Guardians answer with
an unguessable token derived from the offer id by HMAC, so it can be re-derived for
the notification service but never guessed; only its hash is stored and indexed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from services.scheduling import claims, rounds
from services.scheduling import repository as repo
from services.scheduling.context import Scheduling
from services.scheduling.domain.geography import travel_km
from services.scheduling.outgoing import event

SLOT_SCAN = 500
CANDIDATES = 20
"""Families read per candidate query; more pages only if all of them fail."""


def token_for(ctx: Scheduling, offer_id: str) -> str:
    mac = hmac.new(ctx.config.offer_secret.encode(), offer_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def respond_url(ctx: Scheduling, offer_id: str) -> str:
    return f"{ctx.config.public_base_url.rstrip('/')}/ui/offer/{token_for(ctx, offer_id)}"


def earliest_start(ctx: Scheduling, urgent: bool) -> Any:
    hold = ctx.config.urgent_hold_hours if urgent else ctx.config.hold_hours
    return ctx.now() + timedelta(hours=hold + ctx.config.min_lead_hours)


def candidates(ctx: Scheduling, slot: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Families who may take this slot, in fair order, read a page of ``CANDIDATES`` at a time.

    One index (``offer_candidates``: state, eligible hospital, clinic type, then the fair
    order's sort key) serves the equalities and the order. A slot too soon for a normal hold
    is for urgent families only: their keys start with "0", so that is a range on the same
    key. Weekday limits and families who passed on the slot are filters on the fetched
    documents: those ahead in the order who fail them are read in vain (the residual cost).
    """
    start = repo.aware(slot["start"])
    urgent_ok, normal_ok = start >= earliest_start(ctx, True), start >= earliest_start(ctx, False)
    order: dict[str, Any] = {}  # urgent families' keys start with "0", the others' with "1"
    if not normal_ok:
        if not urgent_ok:
            return
        order["$lt"] = "1"
    elif not urgent_ok:
        order["$gte"] = "1"
    query: dict[str, Any] = {
        "state": "waiting",
        "eligible_hospitals": slot["hospital_id"],
        "clinic_type": slot["clinic_type"],
        "$or": [{"constraints.weekdays": {"$exists": False}}, {"constraints.weekdays": slot["weekday"]}],
    }
    if slot.get("passed_by"):
        query["_id"] = {"$nin": list(slot["passed_by"])}
    while True:
        if order:
            query["sort_keys.priority"] = order
        found = list(ctx.db.waitlist.find(query).sort("sort_keys.priority", 1).limit(CANDIDATES))
        yield from found
        if len(found) < CANDIDATES:
            return
        order = {**order, "$gt": found[-1]["sort_keys"]["priority"]}


def best_slot_for_entry(ctx: Scheduling, entry: dict[str, Any]) -> dict[str, Any] | None:
    """The earliest open intake slot the family accepts; nearer hospital breaks ties on the same day."""
    eligible = entry.get("eligible_hospitals") or []
    if not eligible:
        return None
    query = {
        "state": "open",
        "kind": "intake",
        "clinic_type": entry.get("clinic_type", "school_refusal"),
        "hospital_id": {"$in": eligible},
        "start": {"$gte": earliest_start(ctx, bool(entry.get("urgent")))},
        "_id": {"$nin": entry.get("passed_slots", [])},
    }
    weekdays = (entry.get("constraints") or {}).get("weekdays") or []
    candidates = [
        s
        for s in ctx.db.slots.find(query).sort("start", 1).limit(SLOT_SCAN)
        if not weekdays or s["weekday"] in weekdays
    ]
    if not candidates:
        return None
    locations = {h.id: h.location for h in repo.hospitals(ctx.db)}
    home = (entry.get("constraints") or {}).get("home_district")

    def rank(slot: dict[str, Any]) -> tuple:
        km = travel_km(home, locations[slot["hospital_id"]]) if slot["hospital_id"] in locations else None
        return (slot["day"], km or 0.0, slot["start"])

    return min(candidates, key=rank)


def make_offer(ctx: Scheduling, entry: dict[str, Any], slot: dict[str, Any], by: str = "auto") -> dict | None:
    """Hold ``slot`` for ``entry``; None when someone else took either first."""
    offer_id = uuid.uuid4().hex
    now = ctx.now()
    if slot.get("state", "open") != "open":
        return None
    n = rounds.next_round(ctx, entry["_id"])
    if n is None or not rounds.take(ctx, entry["_id"], n, offer_id):
        return None  # the family has an open offer, or another maker won this round
    if not claims.try_take(ctx, f"slot:{slot['_id']}", offer_id):
        rounds.close(ctx, offer_id, "void")
        return None
    ctx.db.slots.update_one(
        {"_id": slot["_id"]},
        {"$set": {"state": "held", "offer_id": offer_id, "case_id": entry["_id"], "held_at": now}},
    )
    # Only this round's winner writes the view; the filter catches a family booked or removed meanwhile.
    viewed = ctx.db.waitlist.update_one(
        {"_id": entry["_id"], "state": "waiting"},
        {"$set": {"state": "offered", "offer_id": offer_id, "offer_round": n}},
    )
    if viewed.modified_count != 1:
        rounds.close(ctx, offer_id, "void")
        _unhold(ctx, entry["_id"], slot["_id"], offer_id)
        return None
    hours = ctx.config.urgent_hold_hours if entry.get("urgent") else ctx.config.hold_hours
    hold_until = now + timedelta(hours=hours)
    made = event(
        "waitlist.offer_made",
        entry["_id"],
        {
            "case_id": entry["_id"],
            "offer_id": offer_id,
            "hospital_id": slot["hospital_id"],
            "slot_start": repo.iso(slot["start"]),
            "slot_end": repo.iso(slot["end"]),
            "kind": slot["kind"],
            "hold_until": repo.iso(hold_until),
        },
    )
    doc = {
        "_id": offer_id,
        "case_id": entry["_id"],
        "slot_id": slot["_id"],
        "hospital_id": slot["hospital_id"],
        "start": slot["start"],
        "end": slot["end"],
        "kind": slot["kind"],
        "state": "pending",
        "hold_until": hold_until,
        "token_hash": token_hash(token_for(ctx, offer_id)),
        "made_by": by,
        "created_at": now,
    }
    ctx.writes.insert_one(ctx.db.offers, doc, [made])
    if claims.owner_of(ctx, f"offer:{offer_id}") == "abandoned":  # slower than rounds.ABANDON_AFTER
        ctx.db.offers.update_one({"_id": offer_id}, {"$set": {"state": "withdrawn"}})
        _unhold(ctx, entry["_id"], slot["_id"], offer_id)
        return None
    return doc


def _unhold(ctx: Scheduling, case_id: str, slot_id: str, offer_id: str) -> None:
    """Undo a hold whose round is closed: free the slot and the entry's view, if still this offer's."""
    claims.give_up(ctx, f"slot:{slot_id}", offer_id)
    ctx.db.slots.update_one(
        {"_id": slot_id, "offer_id": offer_id},
        {"$set": {"state": "open"}, "$unset": {"offer_id": "", "case_id": "", "held_at": ""}},
    )
    ctx.db.waitlist.update_one(
        {"_id": case_id, "state": "offered", "offer_id": offer_id},
        {"$set": {"state": "waiting"}, "$unset": {"offer_id": ""}},
    )


def offer_slot(ctx: Scheduling, slot_id: str) -> dict | None:
    """A slot became free: offer it to the best family region-wide."""
    slot = ctx.db.slots.find_one({"_id": slot_id, "state": "open", "kind": "intake"})
    return _offer(ctx, slot)[0] if slot else None


def _offer(ctx: Scheduling, slot: dict[str, Any]) -> tuple[dict | None, bool]:
    """(the offer, or None; True when None because no family can take the slot).

    Candidates are tried in fair order; one whose offer fails (an open round, a race)
    is passed over, and the slot is re-read in case someone else took it meanwhile.
    """
    for entry in candidates(ctx, slot):
        offer = make_offer(ctx, entry, slot)
        if offer is not None:
            return offer, False
        slot = ctx.db.slots.find_one({"_id": slot["_id"], "state": "open"})
        if slot is None:
            return None, False
    return None, True


def offer_entry(ctx: Scheduling, case_id: str) -> dict | None:
    """A family joined (or rejoined) the list: offer the best open slot, if any is free."""
    for _ in range(5):
        entry = ctx.db.waitlist.find_one({"_id": case_id, "state": "waiting"})
        slot = best_slot_for_entry(ctx, entry) if entry else None
        if slot is None:
            return None
        offer = make_offer(ctx, entry, slot)
        if offer is not None:
            return offer
    return None


def fill_open_slots(ctx: Scheduling, limit: int = 200) -> int:
    """Offer open intake slots, earliest first, until no one waiting can use them.

    Linear in the slots read: one indexed slot query, then per slot one candidate query
    (limited) and the offer's writes. Slots no family could take are remembered per
    (hospital, clinic type, weekday, urgent-only) for the rest of the pass, so a run of
    unusable slots costs one query per group, not one per slot; a slot others passed on
    proves nothing about the group, so it is not remembered.
    """
    if ctx.db.waitlist.find_one({"state": "waiting"}, {"_id": 1}) is None:
        return 0
    made = 0
    normal_from = earliest_start(ctx, False)
    nobody: set[tuple[str, str, str, bool]] = set()
    first = min(earliest_start(ctx, True), normal_from)
    query = {"state": "open", "kind": "intake", "start": {"$gte": first}}
    for slot in ctx.db.slots.find(query).sort("start", 1).limit(limit * 5):
        if made >= limit:
            break
        group = (
            slot["hospital_id"],
            slot["clinic_type"],
            slot["weekday"],
            repo.aware(slot["start"]) < normal_from,
        )
        if group in nobody:
            continue
        offer, no_one = _offer(ctx, slot)
        made += offer is not None
        if no_one and not slot.get("passed_by"):
            nobody.add(group)
    return made
