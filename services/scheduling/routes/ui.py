"""The scheduler's web page and the guardian's offer page: static HTML + vanilla JS over the JSON API."""

from __future__ import annotations

from importlib import resources

from flask import Blueprint, Response, current_app, redirect

from services.scheduling.routes.common import Deps
from shared.auth import SESSION_RESOLVER


def _page(name: str) -> Response:
    html = resources.files("services.scheduling").joinpath("static", name).read_text(encoding="utf-8")
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'"
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def pages(_deps: Deps) -> Blueprint:
    """A plain Flask blueprint: pages are for people, not part of the OpenAPI document."""
    blp = Blueprint("ui", __name__)

    @blp.get("/ui")
    def scheduler_page() -> Response:
        """Only for a signed-in person (else the sign-in page); its calls ride on the session cookie."""
        resolver = current_app.extensions.get(SESSION_RESOLVER)
        if resolver is None or resolver() is None:
            return redirect("/staff/sign-in?next=/ui", code=303)  # type: ignore[return-value]
        response = _page("scheduler.html")
        response.headers["Cache-Control"] = "no-store"
        # its sign-out form must carry this site's Origin, which "no-referrer" turns into "null"
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    @blp.get("/ui/offer/<token>")
    def offer_page(token: str) -> Response:
        return _page("offer.html")

    return blp
