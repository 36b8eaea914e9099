"""The scheduler's web page and the guardian's offer page: static HTML + vanilla JS over the JSON API."""

from __future__ import annotations

from importlib import resources

from flask import Response
from flask_smorest import Blueprint

from services.scheduling.routes.common import Deps


def _page(name: str) -> Response:
    html = resources.files("services.scheduling").joinpath("static", name).read_text(encoding="utf-8")
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'"
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def blueprint(_deps: Deps) -> Blueprint:
    blp = Blueprint("ui", __name__, description="Pages for schedulers and guardians.")

    @blp.get("/ui")
    @blp.doc(hide=True)
    def scheduler_page() -> Response:
        """The page is public; every call it makes carries the scheduler's own staff token."""
        return _page("scheduler.html")

    @blp.get("/ui/offer/<token>")
    @blp.doc(hide=True)
    def offer_page(token: str) -> Response:
        return _page("offer.html")

    return blp
