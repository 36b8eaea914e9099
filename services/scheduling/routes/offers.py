"""Offers: schedulers list them; guardians answer with the offer's token (no login, nothing personal shown)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint, abort

from services.scheduling import offers, responses
from services.scheduling.routes.common import READERS, Deps, domain_errors, public
from services.scheduling.schemas import Accepted, Declined, GuardianOffer, OfferLink, OfferList, OfferQuery


def blueprint(deps: Deps) -> Blueprint:
    blp = Blueprint("offers", __name__, url_prefix="/v1", description="Offers and guardians' answers.")
    ctx = deps.ctx
    deps.guard(blp, "/v1/offer-responses/")

    @blp.get("/offers")
    @blp.arguments(OfferQuery, location="query")
    @blp.response(200, OfferList)
    def list_offers(query: dict[str, Any]) -> dict[str, Any]:
        principal = deps.staff(query["hospital_id"], READERS)
        found = {k: query[k] for k in ("hospital_id", "state") if query[k]}
        if not query["hospital_id"] and "*" not in principal.hospitals:
            found["hospital_id"] = {"$in": list(principal.hospitals)}
        cursor = ctx.db.offers.find(found).sort("hold_until", 1).limit(query["limit"])
        return {"items": [public(d) for d in cursor]}

    @blp.get("/offers/<offer_id>/link")
    @blp.response(200, OfferLink)
    def offer_link(offer_id: str) -> dict[str, Any]:
        """The guardian's answer link, for the notification service to send (never put on the bus).

        A scheduler gets only the links of offers at hospitals their token covers (403 otherwise).
        """
        principal = deps.staff(roles=("service", "scheduler"))
        with domain_errors():
            offer = ctx.db.offers.find_one({"_id": offer_id}, {"_id": 1, "hospital_id": 1})
            if offer is None:
                raise responses.NotFound(f"offer {offer_id} not found")
        if not principal.can_act_for(offer["hospital_id"]):
            abort(403, message=f"Your staff token does not cover hospital {offer['hospital_id']}.")
        return {"offer_id": offer_id, "url": offers.respond_url(ctx, offer_id)}

    @blp.get("/offer-responses/<token>")
    @blp.response(200, GuardianOffer)
    def view_offer(token: str) -> dict[str, Any]:
        with domain_errors():
            offer = responses.find_by_token(ctx, token)
        return responses.public_view(offer, ctx.db.hospitals.find_one({"_id": offer["hospital_id"]}))

    @blp.post("/offer-responses/<token>/accept")
    @blp.response(200, Accepted)
    def accept(token: str) -> dict[str, Any]:
        with domain_errors():
            appt = responses.accept(ctx, token)
        return {"state": "accepted", "appointment": public(appt)}

    @blp.post("/offer-responses/<token>/decline")
    @blp.response(200, Declined)
    def decline(token: str) -> dict[str, Any]:
        with domain_errors():
            responses.decline(ctx, token)
        return {"state": "declined"}

    return blp
