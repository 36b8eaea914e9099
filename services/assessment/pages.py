"""The guardian's questionnaire page: static HTML + vanilla JS over the questionnaire-responses API.

A plain Flask blueprint (passed to ``create_app`` as ``pages=``): pages are for people,
not part of the OpenAPI document. The page itself is the same for every token; what it
shows comes from ``GET /v1/questionnaire-responses/<token>`` (only the invited
instruments). The token is in the path, so the page sends no referrer and is not cached.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response

STATIC = Path(__file__).parent / "static"


def _page(name: str) -> Response:
    response = Response((STATIC / name).read_text(encoding="utf-8"), mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'"
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def pages() -> Blueprint:
    blp = Blueprint("questionnaire_page", __name__)

    @blp.get("/q/<token>")
    def questionnaire_page(token: str) -> Response:
        return _page("questionnaire.html")

    return blp
