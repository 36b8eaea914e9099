"""The console's JSON API and page: one overview call per refresh, dead-letter list and replay."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import marshmallow as ma
from flask import Blueprint as FlaskBlueprint
from flask import send_from_directory
from flask_smorest import Blueprint, abort

from services.console import sources
from services.console.dead_letters import DeadLetters

STATIC = Path(__file__).parent / "static"


class GroupArgs(ma.Schema):
    group = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[a-z][a-z0-9_]{1,40}$"))


def pages() -> FlaskBlueprint:
    """The page itself: for people, so not part of the OpenAPI document."""
    page_blp = FlaskBlueprint("console_pages", __name__)

    @page_blp.get("/")
    def page() -> Any:
        return send_from_directory(STATIC, "console.html")

    @page_blp.get("/assets/<path:name>")
    def asset(name: str) -> Any:
        return send_from_directory(STATIC, name)

    return page_blp


def blueprint(
    endpoints: Sequence[sources.ServiceEndpoint], dead_letters: DeadLetters, operator_token: str
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
        pressure = sources.pressure(scheduling, operator_token) if scheduling else None
        return {"services": services, "pressure": pressure, "warnings": sources.warnings(services)}

    @blp.get("/api/dead-letters/<group>")
    def dead_letter_list(group: str) -> dict[str, Any]:
        _known(group)
        return {"group": group, "dead_letters": dead_letters.list(group)}

    @blp.post("/api/dead-letters/<group>/replay")
    def dead_letter_replay(group: str) -> dict[str, Any]:
        _known(group)
        return {"group": group, "replayed": dead_letters.replay(group)}

    def _known(group: str) -> None:
        if group not in by_name:
            abort(404, message=f"No consumer group {group!r}; known: {', '.join(sorted(by_name))}.")

    return blp
