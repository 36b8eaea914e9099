"""HZ-09: an escalated child already booked for a routine date is offered an urgent earlier intake.

When ``assessment.escalated`` arrives for a case whose booked intake falls after the
escalation's target (the contact deadline's local date, the entry's ``urgent_target``),
the earliest open intake slot the family accepts, region-wide (every hospital the
family's constraints allow), before the current booking and far enough ahead for an
urgent hold, is held for the family as an *expedite offer*. The offer names the
booking it would move (``reschedules``). Accepting it moves that booking
(``booking.reschedule``: the new slot is handed over from the offer, the old slot is
released only then); declining or letting it lapse frees the new slot and the booking
stands (``responses._pass_on``: the family is booked, so no new offer follows).

Exactly once, on FerretDB's weakest semantics: each escalation event takes the claim
``expedite:<id derived from the event>`` before it looks for a slot, so a redelivery or
a second worker does nothing; the offer itself takes the family's next offer round and
the slot's claim, as every offer does (rounds.py, claims.py), so a family never has two
open offers. No earlier slot is a signal for a human: the
counter ``waymark_escalation_expedites_total{outcome="no_slot"}`` (alert
``WaymarkEscalatedBookingNotExpedited``), a warning log and the entry's ``expedite`` marker.
Residual: a process dying between the claim and the offer leaves the booking as it was
and no signal; the escalation task (HZ-02) still owns the contact.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from prometheus_client import Counter

from services.scheduling import booking, claims, offers, rounds, waitlist
from services.scheduling import repository as repo
from services.scheduling.context import Conflict, Scheduling
from services.scheduling.domain.geography import travel_km
from services.scheduling.outgoing import derived_id
from shared.events import Event

log = logging.getLogger(__name__)

SLOTS_PER_HOSPITAL = 50
"""Open slots read per eligible hospital (earliest first); weekday limits filter them after."""

OUTCOMES = ("offered", "no_slot", "round_busy", "within_target", "not_booked", "already_offered", "duplicate")
EXPEDITES = Counter(
    "waymark_escalation_expedites",
    "Escalations of a booked case, by what scheduling did about the booking (HZ-09).",
    ["outcome"],
)
for _outcome in OUTCOMES:
    EXPEDITES.labels(_outcome)


def on_escalated(ctx: Scheduling, message: Event) -> None:
    """The waitlist's own handling first (urgent, tighter target), then the booked case's earlier slot."""
    waitlist.on_escalated(ctx, message)
    expedite(ctx, message.data["case_id"], claim=f"expedite:{derived_id(message, 'expedite')}")


def expedite(ctx: Scheduling, case_id: str, *, claim: str) -> str:
    """Offer an earlier intake to an escalated, booked case; returns the outcome (also counted)."""
    outcome, offer = _expedite(ctx, case_id, claim)
    EXPEDITES.labels(outcome).inc()
    if outcome in ("offered", "no_slot"):
        marker = {"state": outcome, "claim": claim, "at": ctx.now()}
        if offer is not None:
            marker |= {"offer_id": offer["_id"], "slot_id": offer["slot_id"], "start": offer["start"]}
        ctx.db.waitlist.update_one({"_id": case_id}, {"$set": {"expedite": marker}})
    if outcome == "round_busy":
        log.warning(
            "escalated case %s: its offer round is busy; no earlier slot offered by %s", case_id, claim
        )
    if outcome == "no_slot":
        log.warning(
            "escalated case %s is booked after its target and no earlier intake slot is open: "
            "a scheduler must find one (HZ-09)",
            case_id,
        )
    return outcome


def _expedite(ctx: Scheduling, case_id: str, claim: str) -> tuple[str, dict[str, Any] | None]:
    entry = ctx.db.waitlist.find_one({"_id": case_id})
    if not entry or not entry.get("urgent") or entry.get("state") != "booked":
        return "not_booked", None
    appt = ctx.db.appointments.find_one({"_id": entry.get("appointment_id")})
    if appt is None or appt.get("state") != "booked" or appt.get("kind") != "intake":
        return "not_booked", None
    target = entry.get("urgent_target")
    if not target or local_day(ctx, appt["start"]) <= target:
        return "within_target", None
    if claims.owner_of(ctx, claim) is not None:
        return "duplicate", None
    offer_id = uuid.uuid4().hex
    if not claims.try_take(ctx, claim, offer_id):
        return "duplicate", None
    if ctx.db.offers.find_one({"case_id": case_id, "state": "pending", "reschedules": appt["_id"]}):
        return "already_offered", None  # an earlier escalation's offer is still open
    slots = earlier_slots(ctx, entry, appt)
    if not slots:
        return "no_slot", None
    n = rounds.next_round(ctx, case_id)
    if n is None or not rounds.take(ctx, case_id, n, offer_id):
        # Another escalation of this family is making its offer right now (or a maker died
        # mid-offer: the residual above). Not a page: the family has, or is getting, an offer.
        return "round_busy", None
    offer = make_offer(ctx, entry, appt, slots, offer_id)
    return ("offered", offer) if offer else ("no_slot", None)


def local_day(ctx: Scheduling, instant: Any) -> str:
    return repo.aware(instant).astimezone(ctx.config.tz).date().isoformat()


def earlier_slots(ctx: Scheduling, entry: dict[str, Any], appt: dict[str, Any]) -> list[dict[str, Any]]:
    """Open intake slots the family accepts before its booking, earliest day first, nearer first that day.

    One query per eligible hospital, each a top-level equality on (hospital, state, kind,
    clinic type), which FerretDB pushes down to the ``slot_key`` index; the time range and
    sort apply to that hospital's open slots (tests/integration/test_hot_queries.py).
    """
    earliest = offers.earliest_start(ctx, True)
    before = repo.aware(appt["start"])
    weekdays = (entry.get("constraints") or {}).get("weekdays") or []
    passed = set(entry.get("passed_slots") or [])
    found: list[dict[str, Any]] = []
    for hospital in entry.get("eligible_hospitals") or []:
        query = {
            "hospital_id": hospital,
            "state": "open",
            "kind": "intake",
            "clinic_type": entry.get("clinic_type", "school_refusal"),
            "start": {"$gte": earliest, "$lt": before},
        }
        for slot in ctx.db.slots.find(query).sort("start", 1).limit(SLOTS_PER_HOSPITAL):
            if slot["_id"] not in passed and (not weekdays or slot["weekday"] in weekdays):
                found.append(slot)
    locations = {h.id: h.location for h in repo.hospitals(ctx.db)}
    home = (entry.get("constraints") or {}).get("home_district")

    def rank(slot: dict[str, Any]) -> tuple:
        where = locations.get(slot["hospital_id"])
        km = travel_km(home, where) if where else None
        return (slot["day"], km or 0.0, repo.aware(slot["start"]), slot["_id"])

    return sorted(found, key=rank)


def make_offer(
    ctx: Scheduling, entry: dict[str, Any], appt: dict[str, Any], slots: list[dict[str, Any]], offer_id: str
) -> dict[str, Any] | None:
    """Hold the first of ``slots`` whose claim this offer wins, in the family's round ``offer_id`` has taken.

    Like ``offers.make_offer`` but for a booked family: the entry stays ``booked`` (its
    booking stands until the offer is accepted), so there is no ``waiting → offered`` view.
    None (the round answered ``void``) when every slot went to someone else meanwhile.
    """
    case_id = entry["_id"]
    slot = next((s for s in slots if claims.try_take(ctx, f"slot:{s['_id']}", offer_id)), None)
    if slot is None:
        rounds.close(ctx, offer_id, "void")
        return None
    now = ctx.now()
    ctx.db.slots.update_one(
        {"_id": slot["_id"]},
        {"$set": {"state": "held", "offer_id": offer_id, "case_id": case_id, "held_at": now}},
    )
    hold_until = now + timedelta(hours=ctx.config.urgent_hold_hours)
    doc, made = offers.offer_document(
        ctx,
        case_id,
        offer_id,
        slot,
        hold_until,
        now,
        "expedite",
        reschedules=appt["_id"],
        replaces_start=appt["start"],
    )
    ctx.writes.insert_one(ctx.db.offers, doc, [made])
    if claims.owner_of(ctx, f"offer:{offer_id}") == "abandoned":  # slower than rounds.ABANDON_AFTER
        ctx.db.offers.update_one({"_id": offer_id}, {"$set": {"state": "withdrawn"}})
        booking.release(ctx, slot["_id"], None, owner=offer_id)
        return None
    return doc


def accept(ctx: Scheduling, offer: dict[str, Any]) -> dict[str, Any]:
    """The family took the earlier slot (its ``offer:<id>`` answer is won): move the booking there.

    The held slot passes from the offer to the appointment and only then is the old slot
    released (``booking.reschedule``). If the booking changed meanwhile (cancelled, attended)
    the move is refused and the new slot goes to the next family.
    """
    try:
        moved = booking.reschedule(ctx, offer["reschedules"], offer["slot_id"], offer_id=offer["_id"])
    except Conflict:
        booking.release(ctx, offer["slot_id"], None, owner=offer["_id"])
        raise
    ctx.db.waitlist.update_one(
        {"_id": offer["case_id"], "appointment_id": offer["reschedules"]},
        {"$set": {"hospital_id": moved["hospital_id"], "expedite.state": "moved"}},
    )
    return moved
