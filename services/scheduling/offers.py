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
import heapq
import hmac
import itertools
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from services.scheduling import claims, openings, rounds, walks
from services.scheduling import repository as repo
from services.scheduling.context import Scheduling
from services.scheduling.domain.geography import travel_km
from services.scheduling.domain.model import BANDS, Hospital
from services.scheduling.outgoing import event
from shared.events import Event

SLOT_SCAN = 500
"""Open slots read per week (a week of the region's intake sessions is far fewer)."""


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
    """Families who may take this slot, in fair order, read one small bucket at a time.

    The waiting lanes of each band are walked in priority order (services/scheduling/walks.py),
    each bucket read with the slot's hospital and clinic type as equalities, and merged. A slot
    too soon for a normal hold is for urgent families only: their keys start with "0", so that
    is a bound on the walk. Weekday limits and families who passed on the slot are filters on
    the bucket's rows: those ahead in the order who fail them are read in vain (the residual cost).
    """
    start = repo.aware(slot["start"])
    urgent_ok, normal_ok = start >= earliest_start(ctx, True), start >= earliest_start(ctx, False)
    after, before = None, None  # urgent families' keys start with "0", the others' with "1"
    if not normal_ok:
        if not urgent_ok:
            return
        before = "1"
    elif not urgent_ok:
        after = "0~"  # after every "0|..." key
    extra: dict[str, Any] = {
        "eligible_hospitals": slot["hospital_id"],
        "clinic_type": slot["clinic_type"],
        "$or": [{"constraints.weekdays": {"$exists": False}}, {"constraints.weekdays": slot["weekday"]}],
    }
    if slot.get("passed_by"):
        extra["_id"] = {"$nin": list(slot["passed_by"])}
    memo: dict[str, list[str]] = {}
    lanes = [
        walks.walk(ctx.db, "priority", "waiting", band, extra, after=after, before=before, memo=memo)
        for band in (*BANDS, None)
    ]
    yield from heapq.merge(*lanes, key=lambda d: d["sort_keys"]["priority"])


def open_slots(
    ctx: Scheduling,
    query: dict[str, Any],
    first: datetime,
    skip: frozenset[str] = frozenset(),
    on_empty: Callable[[str], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Open intake slots matching ``query`` from ``first`` on, in start order, one local week at a time.

    Each read is an equality on the slot's ``week`` (plus state, kind and ``query``'s equalities),
    so the store matches one week's open slots, never the whole horizon. Weeks in ``skip`` are
    known to have none (services/scheduling/openings.py) and are not read; ``on_empty`` hears
    of each week whose read found none.
    """
    last = ctx.today() + timedelta(days=ctx.config.horizon_days + 7)
    day = repo.aware(first).astimezone(ctx.config.tz).date()
    while day <= last:
        week = repo.week_of(day)
        day += timedelta(days=7)
        if week in skip:
            continue
        found = {"state": "open", "kind": "intake", "week": week, **query, "start": {"$gte": first}}
        slots = list(ctx.db.slots.find(found).sort("start", 1).limit(SLOT_SCAN))
        if not slots and on_empty is not None:
            on_empty(week)
        yield from slots


def best_slot_for_entry(
    ctx: Scheduling, entry: dict[str, Any], hospitals: list[Hospital] | None = None
) -> dict[str, Any] | None:
    """The earliest open intake slot the family accepts; nearer hospital breaks ties on the same day.

    Walks weeks forward (``open_slots``) and stops at the first week holding a slot the family
    accepts: the earliest day is in it. Weeks this process already found empty for the same
    clinic type, hospitals and urgency are skipped while no slot has opened since
    (services/scheduling/openings.py: one token read instead of a read per full week); a family
    that passed on slots is not remembered for (its reads exclude those slots).
    """
    eligible = entry.get("eligible_hospitals") or []
    if not eligible:
        return None
    passed = entry.get("passed_slots", [])
    urgent = bool(entry.get("urgent"))
    query = {
        "clinic_type": entry.get("clinic_type", "school_refusal"),
        "hospital_id": {"$in": eligible},
        "_id": {"$nin": passed},
    }
    skip: frozenset[str] = frozenset()
    on_empty = None
    if not passed:
        key = (query["clinic_type"], tuple(sorted(eligible)), urgent)
        current = openings.token(ctx)
        skip = ctx.empty_weeks.known(current, key)

        def on_empty(week: str) -> None:
            ctx.empty_weeks.remember(current, key, week)

    weekdays = (entry.get("constraints") or {}).get("weekdays") or []
    candidates: list[dict[str, Any]] = []
    week = None
    for s in open_slots(ctx, query, earliest_start(ctx, urgent), skip, on_empty):
        if week is not None and s["week"] != week:
            break
        if not weekdays or s["weekday"] in weekdays:
            candidates.append(s)
            week = s["week"]
    if not candidates:
        return None
    locations = {h.id: h.location for h in (repo.hospitals(ctx.db) if hospitals is None else hospitals)}
    home = (entry.get("constraints") or {}).get("home_district")

    def rank(slot: dict[str, Any]) -> tuple:
        km = travel_km(home, locations[slot["hospital_id"]]) if slot["hospital_id"] in locations else None
        return (slot["day"], km or 0.0, slot["start"])

    return min(candidates, key=rank)


def make_offer(
    ctx: Scheduling, entry: dict[str, Any], slot: dict[str, Any], by: str = "auto", fresh: bool = False
) -> dict | None:
    """Hold ``slot`` for ``entry``; None when someone else took either first.

    ``fresh``: the entry was inserted just now, so it has had no offer round: round 0 is taken
    without reading the family's rounds (if one existed after all, taking it fails: None).
    """
    offer_id = uuid.uuid4().hex
    now = ctx.now()
    if slot.get("state", "open") != "open":
        return None
    n = 0 if fresh else rounds.next_round(ctx, entry["_id"])
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
    doc, made = offer_document(ctx, entry["_id"], offer_id, slot, hold_until, now, by)
    ctx.writes.insert_one(ctx.db.offers, doc, [made])
    if rounds.abandoned(ctx, offer_id, now):  # slower than rounds.ABANDON_AFTER
        ctx.db.offers.update_one({"_id": offer_id}, {"$set": {"state": "withdrawn"}})
        _unhold(ctx, entry["_id"], slot["_id"], offer_id)
        return None
    return doc


def offer_document(
    ctx: Scheduling,
    case_id: str,
    offer_id: str,
    slot: dict[str, Any],
    hold_until: datetime,
    now: datetime,
    made_by: str,
    **extra: Any,
) -> tuple[dict[str, Any], Event]:
    """An offer's document and its ``waitlist.offer_made``: one shape for every way an offer is made."""
    made = event(
        "waitlist.offer_made",
        case_id,
        {
            "case_id": case_id,
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
        "case_id": case_id,
        "slot_id": slot["_id"],
        "hospital_id": slot["hospital_id"],
        "start": slot["start"],
        "end": slot["end"],
        "kind": slot["kind"],
        "state": "pending",
        "hold_until": hold_until,
        "token_hash": token_hash(token_for(ctx, offer_id)),
        "made_by": made_by,
        **extra,
        "created_at": now,
    }
    return doc, made


def _unhold(ctx: Scheduling, case_id: str, slot_id: str, offer_id: str) -> None:
    """Undo a hold whose round is closed: free the slot and the entry's view, if still this offer's."""
    claims.give_up(ctx, f"slot:{slot_id}", offer_id)
    ctx.db.slots.update_one(
        {"_id": slot_id, "offer_id": offer_id},
        {"$set": {"state": "open"}, "$unset": {"offer_id": "", "case_id": "", "held_at": ""}},
    )
    openings.opened(ctx)
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


def offer_entry(
    ctx: Scheduling,
    case_id: str,
    entry: dict[str, Any] | None = None,
    hospitals: list[Hospital] | None = None,
    fresh: bool = False,
) -> dict | None:
    """A family joined (or rejoined) the list: offer the best open slot, if any is free.

    ``entry`` (the family's document as just written, waiting) and ``hospitals`` spare the
    first attempt its reads, ``fresh`` (the entry was just inserted) its round read; a retry
    after a lost race re-reads the entry.
    """
    for attempt in range(5):
        if attempt or entry is None or entry.get("state") != "waiting":
            entry = ctx.db.waitlist.find_one({"_id": case_id, "state": "waiting"})
        slot = best_slot_for_entry(ctx, entry, hospitals) if entry else None
        if slot is None:
            return None
        offer = make_offer(ctx, entry, slot, fresh=fresh and not attempt)
        if offer is not None:
            return offer
    return None


def anyone_waiting(ctx: Scheduling) -> bool:
    """Whether some family waits: the first entry of each band's waiting walk (a few bucket reads).

    Not ``find_one({"state": "waiting"})``: on FerretDB that fetches every waiting row.
    """
    memo: dict[str, list[str]] = {}
    return any(
        next(walks.walk(ctx.db, "priority", "waiting", band, memo=memo), None) is not None
        for band in (*BANDS, None)
    )


def fill_open_slots(ctx: Scheduling, limit: int = 200) -> int:
    """Offer open intake slots, earliest first, until no one waiting can use them.

    Linear in the slots read: one slot query per week, then per slot a candidate walk
    (a few small bucket reads) and the offer's writes. Slots no family could take are remembered per
    (hospital, clinic type, weekday, urgent-only) for the rest of the pass, so a run of
    unusable slots costs one query per group, not one per slot; a slot others passed on
    proves nothing about the group, so it is not remembered.
    """
    if not anyone_waiting(ctx):
        return 0
    made = 0
    normal_from = earliest_start(ctx, False)
    nobody: set[tuple[str, str, str, bool]] = set()
    first = min(earliest_start(ctx, True), normal_from)
    for slot in itertools.islice(open_slots(ctx, {}, first), limit * 5):
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
