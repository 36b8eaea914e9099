"""Who is calling the school API, and whether they are over their rate limit.

Installed as ``before_request`` on the school blueprints, so authentication and the rate
limit answer (401, 429) before any body is parsed. Neither touches the store on most
requests: the key lookup is remembered per worker (services.referral.callers) and the
rate limit is counted in memory (services.referral.ratelimit).
"""

from __future__ import annotations

from flask import Response, g
from flask_smorest import Blueprint, abort

from services.referral.deps import Deps
from services.referral.keys import SchoolCaller
from shared.auth import bearer_token


def protect(blp: Blueprint, deps: Deps) -> None:
    @blp.before_request
    def _authenticate() -> None:
        key = bearer_token()
        caller = deps.callers.caller(key) if key else None
        if caller is None:
            abort(401, message="A valid school API key is required (Authorization: Bearer wm_school_...).")
        verdict = deps.limiter.hit(caller.key_id)
        g.rate_limit = verdict
        if not verdict.allowed:
            abort(
                429,
                message="Too many requests for this API key; slow down.",
                headers={"Retry-After": str(verdict.retry_after_s)},
            )
        g.school = caller

    @blp.after_request
    def _rate_headers(response: Response) -> Response:
        verdict = g.get("rate_limit")
        if verdict is not None:
            response.headers["X-RateLimit-Limit"] = str(verdict.limit)
            response.headers["X-RateLimit-Remaining"] = str(verdict.remaining)
        return response


def school() -> SchoolCaller:
    return g.school
