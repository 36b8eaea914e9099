"""The regional waitlist for schedulers: list, filter, sort, offer; rebalancing; pressure."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint, abort

from services.scheduling import allocation, entries, listing, offers, pressure_ops
from services.scheduling.domain.model import BANDS
from services.scheduling.routes.common import READERS, Deps, domain_errors, public
from services.scheduling.schemas import (
    EntryOut,
    OfferIn,
    OfferOut,
    PressureOut,
    PressureQuery,
    RebalanceIn,
    RebalanceOut,
    WaitlistPage,
    WaitlistQuery,
)

INVALID = "The request is invalid; see fields."


def blueprint(deps: Deps) -> Blueprint:
    blp = Blueprint(
        "waitlist", __name__, url_prefix="/v1", description="Regional waitlist, allocation, pressure."
    )
    ctx = deps.ctx
    deps.guard(blp)

    @blp.get("/waitlist")
    @blp.arguments(WaitlistQuery, location="query")
    @blp.response(200, WaitlistPage)
    def list_waitlist(query: dict[str, Any]) -> dict[str, Any]:
        """Entries a scheduler may act on (those who accept one of the scheduler's hospitals), a page at a time.

        Pages follow ``next_cursor`` (null on the last page); each is read by index ranges, so its
        cost does not grow with the list. ``total`` is only counted when ``include_total`` is set.
        """
        hospital = query["hospital_id"]
        principal = deps.staff(hospital, READERS)
        sort = query["sort"]
        try:
            after = listing.decode(sort, query["cursor"]) if query["cursor"] else None
        except listing.BadCursor as exc:
            abort(422, message=INVALID, messages={"query": {"cursor": [str(exc)]}})
        if hospital:
            hospitals: list[str] | None = [hospital]
        else:
            hospitals = None if "*" in principal.hospitals else sorted(principal.hospitals)
        states = list(entries.STATES) if query["state"] == "all" else [query["state"]]
        bands = [query["band"]] if query["band"] else [*BANDS, None]
        items, last = listing.page(
            ctx.db, sort, listing.lanes(states, bands, hospitals), after, query["limit"]
        )
        body: dict[str, Any] = {
            "items": [public(d) for d in items],
            "next_cursor": listing.encode(sort, last) if last else None,
        }
        if query["include_total"]:
            body["total"] = ctx.db.waitlist.count_documents(_matching(query, hospitals))
        return body

    @blp.get("/waitlist/<case_id>")
    @blp.response(200, EntryOut)
    def get_entry(case_id: str) -> dict[str, Any]:
        principal = deps.staff(roles=READERS)
        doc = ctx.db.waitlist.find_one({"_id": case_id})
        if doc is None or not _visible(principal, doc):
            abort(404, message=f"case {case_id} is not on the waitlist")
        return public(doc)

    @blp.post("/waitlist/<case_id>/offer")
    @blp.arguments(OfferIn)
    @blp.response(201, OfferOut)
    def make_offer(data: dict[str, Any], case_id: str) -> dict[str, Any]:
        """Offer a family a slot now: the one given, or the best free one they accept."""
        principal = deps.staff()
        entry = ctx.db.waitlist.find_one({"_id": case_id})
        if entry is None or not _visible(principal, entry):
            abort(404, message=f"case {case_id} is not on the waitlist")  # same answer as get_entry
        if entry.get("state") != "waiting":
            abort(409, message=f"case {case_id} is not waiting for an offer")
        if data["slot_id"]:
            slot = ctx.db.slots.find_one({"_id": data["slot_id"], "state": "open", "kind": "intake"})
            if slot is None or slot["hospital_id"] not in entry.get("eligible_hospitals", []):
                abort(409, message="that slot is not free or not acceptable to this family")
        else:
            slot = offers.best_slot_for_entry(ctx, entry)
            if slot is None:
                abort(409, message="no free slot this family accepts")
        if not principal.can_act_for(slot["hospital_id"]):
            abort(403, message=f"Your staff token does not cover hospital {slot['hospital_id']}.")
        with domain_errors():
            offer = offers.make_offer(ctx, entry, slot, by=principal.subject)
        if offer is None:
            abort(409, message="someone else took the slot or the family first; try again")
        return public(offer)

    _network_routes(blp, deps)
    return blp


def _matching(query: dict[str, Any], hospitals: list[str] | None) -> dict[str, Any]:
    """The page's filters as one query (for the optional total)."""
    found: dict[str, Any] = {}
    if query["state"] != "all":
        found["state"] = query["state"]
    if query["band"]:
        found["band"] = query["band"]
    if hospitals is not None:
        found["eligible_hospitals"] = {"$in": hospitals}
    return found


def _visible(principal: Any, doc: dict[str, Any]) -> bool:
    return "*" in principal.hospitals or any(
        principal.can_act_for(h) for h in doc.get("eligible_hospitals", [])
    )


def _network_routes(blp: Blueprint, deps: Deps) -> None:
    """Region-wide views and actions: rebalancing and pressure."""
    ctx = deps.ctx

    @blp.post("/allocation/rebalance")
    @blp.arguments(RebalanceIn)
    @blp.response(200, RebalanceOut)
    def rebalance(data: dict[str, Any]) -> dict[str, Any]:
        """Optimise the whole network (or one hospital's slots); ``apply`` turns the plan into offers."""
        if data["hospital_id"]:
            deps.staff(data["hospital_id"])
        else:
            deps.regional()
        return allocation.rebalance(ctx, apply=data["apply"], hospital_id=data["hospital_id"])

    @blp.get("/pressure")
    @blp.arguments(PressureQuery, location="query")
    @blp.response(200, PressureOut)
    def pressure(query: dict[str, Any]) -> dict[str, Any]:
        """Per hospital and band: waiting, capacity, predicted wait, projected breaches, level; moves."""
        deps.staff(query["hospital_id"], (*READERS, "service"))
        return pressure_ops.report(ctx, query["hospital_id"])
