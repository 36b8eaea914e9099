"""The clinician's workspace: the ``/clinic`` page and the one list it needs that no route gave yet.

The page is static HTML + vanilla JS (``static/clinic.html``, ``static/clinic.js``) over the
clinician JSON API, riding on the staff session cookie (shared.staff) and sending the
session's CSRF token with every change. It adds no way around a route policy: the page's
calls are the existing clinician routes, so what a person sees is what those routes give
them: everything to a regional clinician, only the cases and tasks of their hospitals to a
hospital-scoped one (services/assessment/scope.py). The page itself is served to any
signed-in clinician; anyone else signed in gets a 403 page that says why, and a stranger is
sent to sign in.

Family contacts never appear in the worklist: the case record reads them only through
``GET /v1/cases/<id>/contacts`` with a reason, which writes the access log (HZ-02).

``GET /v1/triage/reviews`` lists the active cases a clinician must review (``needs_review``:
codes the rule table did not know, a lowered override awaiting co-signature...), oldest
referral first, as keyset pages (the query and its index: :mod:`services.assessment.triage_reviews`).
"""

from __future__ import annotations

import base64
import json
from html import escape as html_escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Blueprint as FlaskBlueprint
from flask import Response, current_app, g, redirect, request
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate

from services.assessment import schemas, scope, views
from services.assessment.domain.tasks import OUTCOMES
from services.assessment.policies import CLINICIAN_OF_HOSPITAL
from services.assessment.triage_reviews import MAX_PAGE, Key, TriageReviewQueue
from shared.auth import OPEN, SESSION_RESOLVER, Policies, StaffTokens, require_staff

STATIC = Path(__file__).parent / "static"
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'"
)
POLICIES: Policies = {
    ("GET", "/clinic"): OPEN,  # the page (no data); it sends a stranger to sign in, others a 403 page
    ("GET", "/clinic/clinic.js"): OPEN,  # the page's script (no data)
    ("GET", "/v1/triage/reviews"): CLINICIAN_OF_HOSPITAL,  # filtered to the caller's hospitals
}
REVIEW_LIMIT = MAX_PAGE


def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = PAGE_CSP
    response.headers["Cache-Control"] = "no-store"
    # the sign-out form must carry this site's Origin, which "no-referrer" turns into "null"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def pages() -> FlaskBlueprint:
    """A plain Flask blueprint: pages are for people, not part of the OpenAPI document."""
    blp = FlaskBlueprint("clinic_page", __name__)
    outcomes = json.dumps(list(OUTCOMES))

    @blp.get("/clinic")
    def clinic_page() -> Any:
        """A signed-in clinician (regional or hospital-scoped) gets the page; anyone else signed in is told why not."""
        resolver = current_app.extensions.get(SESSION_RESOLVER)
        principal = resolver() if resolver is not None else None
        if principal is None:
            query = request.query_string.decode()
            target = "/clinic" + (f"?{query}" if query else "")
            return redirect(f"/staff/sign-in?next={quote(target, safe='/')}", code=303)
        if principal.role != "clinician":
            # with a sign-out form (this session's CSRF token), so the person can switch accounts
            session = g.get("staff_session")
            csrf = html_escape(session.csrf if session is not None else "")
            body = (STATIC / "clinic-forbidden.html").read_text(encoding="utf-8").replace("{{CSRF}}", csrf)
            return _headers(Response(body, status=403, mimetype="text/html"))
        html = (STATIC / "clinic.html").read_text(encoding="utf-8").replace("{{OUTCOMES}}", outcomes)
        return _headers(Response(html, mimetype="text/html"))

    @blp.get("/clinic/clinic.js")
    def clinic_script() -> Response:
        script = (STATIC / "clinic.js").read_text(encoding="utf-8")
        return _headers(Response(script, mimetype="text/javascript"))

    return blp


class ReviewPage(Schema):
    items = fields.List(fields.Nested(schemas.QueueItem))
    next_cursor = fields.Str(
        allow_none=True, metadata={"description": "the next page's cursor; null: last page"}
    )


class ReviewQuery(Schema):
    limit = fields.Int(load_default=50, validate=validate.Range(min=1, max=REVIEW_LIMIT))
    cursor = fields.Str(metadata={"description": "the previous page's next_cursor"})


def _cursor(key: Key | None) -> str | None:
    if key is None:
        return None
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def _key(cursor: str) -> Key:
    try:
        referred_on, case_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(referred_on, str) or not isinstance(case_id, str):
            raise ValueError(cursor)
    except (ValueError, TypeError):
        abort(422, message="That cursor is not one this list gave.")
    return referred_on, case_id


def triage_reviews(queue: TriageReviewQueue, tokens: StaffTokens) -> Blueprint:
    blp = Blueprint("reviews", __name__, url_prefix="/v1", description="Cases awaiting a clinician's review")

    @blp.before_request
    def _clinicians_only() -> None:
        require_staff(tokens, "clinician")

    @blp.get("/triage/reviews")
    @blp.arguments(ReviewQuery, location="query")
    @blp.response(200, ReviewPage)
    def awaiting_review(query: dict[str, Any]) -> dict[str, Any]:
        """Active cases flagged ``needs_review``, oldest referral first, one keyset page at a time."""
        after = _key(query["cursor"]) if query.get("cursor") else None
        page, next_key = queue.page(query["limit"], after, scope.list_filter(g.principal))
        return {"items": [views.queue_item(doc) for doc in page], "next_cursor": _cursor(next_key)}

    return blp
