"""The scheduler's web page and the guardian's offer page: static HTML + vanilla JS over the JSON API."""

from __future__ import annotations

from importlib import resources

from flask import Blueprint, Response

from services.scheduling.routes.common import Deps


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
        """The page is public; every call it makes carries the scheduler's own staff token."""
        return _page("scheduler.html")

    @blp.get("/ui/offer/<token>")
    def offer_page(token: str) -> Response:
        return _page("offer.html")

    return blp
