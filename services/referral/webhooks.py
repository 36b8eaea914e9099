"""Schools' webhook registration (/v1/webhook) and the notification service's contacts route.

The school registers one URL; Waymark generates the signing secret and shows it once.
The notification service, which sends the signed webhooks and messages, reads the URL,
the secret and the guardians' contacts at send time through the internal route, with a
staff token of role "service": personal data never travels on a topic.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import Response
from flask_smorest import Blueprint, abort

from services.referral import views
from services.referral.access import protect, school
from services.referral.cases import iso
from services.referral.deps import Deps
from services.referral.domain.vocabulary import ID_PATTERN
from services.referral.responses import ContactsSchema, WebhookOutSchema
from services.referral.schemas import WebhookSchema
from shared.auth import require_staff
from shared.url_safety import UnsafeURL, check_url


def webhook_blueprint(deps: Deps) -> Blueprint:
    blp = Blueprint("webhook", __name__, url_prefix="/v1/webhook", description="Status-change webhooks.")
    protect(blp, deps)

    @blp.route("", methods=["PUT"])
    @blp.arguments(WebhookSchema)
    @blp.response(201, WebhookOutSchema)
    def register(body: dict[str, Any]) -> dict[str, Any]:
        """Register (or replace) the school's webhook URL; the answer shows the signing secret once.

        The URL must be a public https endpoint: no loopback, private, link-local or metadata
        address or name and no credentials (SSRF; notification checks the resolved addresses
        again before every delivery). 422 names the ``url`` field.
        """
        try:
            check_url(
                body["url"], allow_http=deps.allow_http_webhooks, allow_loopback=deps.allow_loopback_webhooks
            )
        except UnsafeURL as exc:
            abort(422, messages={"json": {"url": [f"Not accepted: {exc}."]}})
        secret = "whsec_" + secrets.token_urlsafe(32)
        at = iso(deps.clock())
        webhook = {"url": body["url"], "secret": deps.cipher.encrypt(secret), "registered_at": at}
        deps.db.schools.update_one({"_id": school().school_id}, {"$set": {"webhook": webhook}}, upsert=True)
        return {"url": body["url"], "secret": secret, "registered_at": at}

    @blp.route("", methods=["GET"])
    @blp.response(200, WebhookOutSchema)
    def show() -> dict[str, Any]:
        """The registered URL (never the secret)."""
        found = deps.db.schools.find_one({"_id": school().school_id}) or {}
        if not found.get("webhook"):
            abort(404, message="No webhook is registered for this school.")
        return {"url": found["webhook"]["url"], "registered_at": found["webhook"]["registered_at"]}

    @blp.route("", methods=["DELETE"])
    @blp.response(204)
    def remove() -> Response:
        """Stop status-change webhooks for this school."""
        deps.db.schools.update_one({"_id": school().school_id}, {"$unset": {"webhook": ""}})
        return Response(status=204)

    return blp


def internal_blueprint(deps: Deps) -> Blueprint:
    blp = Blueprint("internal", __name__, url_prefix="/internal/v1", description="Service-to-service.")

    @blp.route("/cases/<case_id>/contacts", methods=["GET"])
    @blp.response(200, ContactsSchema)
    def contacts(case_id: str) -> dict[str, Any]:
        """Guardians' decrypted contacts, languages and consent, and the school's webhook (role: service)."""
        require_staff(deps.staff_tokens, "service")
        case = deps.cases.get(case_id) if re.match(ID_PATTERN, case_id) else None
        if case is None and case_id.startswith("adv-"):  # an advice answer's webhook (advice.py)
            found = deps.advice.contacts(case_id) if deps.advice else None
            if found is not None:
                return found
        if case is None:
            abort(404, message="No such case.")
        return views.contacts(case, deps.db.schools.find_one({"_id": case["school_id"]}), deps.cipher)

    return blp
