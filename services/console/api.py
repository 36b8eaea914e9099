"""The console's JSON API and page: one overview call per refresh, dead-letter list and replay.

Every ``/api`` route needs a regional operator: a staff token as ``Authorization: Bearer``
(scripts, the CLI) or, for the page in a browser, an operator's signed-in session
(shared.staff: ``/staff/sign-in`` with a staff account; the session cookie is HttpOnly,
SameSite=Lax and Secure, and every change carries the session's CSRF token and this
site's Origin).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import marshmallow as ma
from flask import Blueprint as FlaskBlueprint
from flask import current_app, g, redirect, send_from_directory
from flask_smorest import Blueprint, abort

from services.console import sources
from services.console.dead_letters import DeadLetters
from shared.auth import (
    MAX_TTL_S,
    OPEN,
    REGION,
    SESSION_RESOLVER,
    Policies,
    Principal,
    StaffTokens,
    staff,
)

STATIC = Path(__file__).parent / "static"
OPERATOR = staff("operator", scope=REGION)
POLICIES: Policies = {
    ("GET", "/"): OPEN,  # the page (no data) for a signed-in operator; anyone else is sent to sign in
    ("GET", "/assets/<path:name>"): OPEN,
    ("GET", "/api/overview"): OPERATOR,
    ("GET", "/api/dead-letters/<group>"): OPERATOR,
    ("POST", "/api/dead-letters/<group>/replay"): OPERATOR,
    ("POST", "/api/staff-tokens/revocations"): OPERATOR,
}


class RevocationIn(ma.Schema):
    token = ma.fields.String(
        load_default=None, metadata={"description": "The token itself (its id and expiry are read from it)."}
    )
    token_id = ma.fields.String(
        load_default=None,
        validate=ma.validate.Regexp(r"^[A-Za-z0-9_-]{8,64}$"),
        metadata={"description": "Or only its id (``waymark staff-token issue`` prints it)."},
    )


class RevocationOut(ma.Schema):
    token_id = ma.fields.String()
    expires_at = ma.fields.DateTime()


def _signed_in() -> Principal | None:
    resolver = current_app.extensions.get(SESSION_RESOLVER)
    return resolver() if resolver is not None else None


def pages() -> FlaskBlueprint:
    """The page (for people, so not part of the OpenAPI document); sign-in is shared.staff's."""
    page_blp = FlaskBlueprint("console_pages", __name__)

    @page_blp.get("/")
    def page() -> Any:
        principal = _signed_in()
        if principal is None:
            return redirect("/staff/sign-in?next=/", code=303)
        if principal.role != "operator" or not principal.regional:
            response = send_from_directory(STATIC, "forbidden.html")
            response.status_code = 403
        else:
            response = send_from_directory(STATIC, "console.html")
        response.headers["Cache-Control"] = "no-store"
        return response

    @page_blp.get("/assets/<path:name>")
    def asset(name: str) -> Any:
        return send_from_directory(STATIC, name)

    return page_blp


def blueprint(
    endpoints: Sequence[sources.ServiceEndpoint],
    dead_letters: DeadLetters,
    operator_token: Callable[[], str],
    tokens: StaffTokens,
) -> Blueprint:
    blp = Blueprint("console", __name__, description="Operator console: health, events, lag, DLQ, pressure.")
    by_name = {e.name: e for e in endpoints}
    pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="console-probe")

    @blp.get("/api/overview")
    def overview() -> dict[str, Any]:
        """Every service's readiness and event figures, plus regional waitlist pressure."""
        healths = pool.map(sources.health, endpoints)
        figures = pool.map(sources.metric_summary, endpoints)
        services = [
            {"name": e.name, "url": e.url, **h, "metrics": m}
            for e, h, m in zip(endpoints, healths, figures, strict=True)
        ]
        scheduling = by_name.get("scheduling")
        pressure = sources.pressure(scheduling, operator_token()) if scheduling else None
        return {"services": services, "pressure": pressure, "warnings": sources.warnings(services)}

    @blp.get("/api/dead-letters/<group>")
    def dead_letter_list(group: str) -> dict[str, Any]:
        _known(group)
        return {"group": group, "dead_letters": dead_letters.list(group)}

    @blp.post("/api/dead-letters/<group>/replay")
    def dead_letter_replay(group: str) -> dict[str, Any]:
        _known(group)
        return {"group": group, "replayed": dead_letters.replay(group)}

    @blp.post("/api/staff-tokens/revocations")
    @blp.arguments(RevocationIn)
    @blp.response(201, RevocationOut)
    def revoke(body: dict[str, Any]) -> dict[str, Any]:
        """Revoke a staff token before it expires; every service refuses it within WAYMARK_REVOCATION_CACHE_S."""
        assert tokens.revocations is not None
        if body["token"]:
            principal = tokens.decode(body["token"])
            if principal is None:
                abort(422, message="Not a valid, unexpired staff token (an expired one needs no revocation).")
            token_id, expires = principal.token_id, principal.expires_at
        elif body["token_id"]:
            token_id, expires = body["token_id"], time.time() + MAX_TTL_S  # its expiry is unknown
        else:
            abort(422, message="Give the token or its id.", messages={"token_id": ["Missing data."]})
        expires_at = datetime.fromtimestamp(expires, UTC)
        tokens.revocations.revoke(token_id, expires_at, by=g.principal.subject)
        return {"token_id": token_id, "expires_at": expires_at}

    def _known(group: str) -> None:
        if group not in by_name:
            abort(404, message=f"No consumer group {group!r}; known: {', '.join(sorted(by_name))}.")

    return blp
