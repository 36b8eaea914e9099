"""The scheduling HTTP API: every blueprint, wired to one context and the staff token verifier."""

from __future__ import annotations

from flask import Blueprint as FlaskBlueprint
from flask_smorest import Blueprint

from services.scheduling.context import Scheduling
from services.scheduling.routes import appointments, fhir, hospitals, offers, ui, waitlist
from services.scheduling.routes.common import Deps
from shared.auth import StaffTokens


def pages(ctx: Scheduling, tokens: StaffTokens) -> list[FlaskBlueprint]:
    return [ui.pages(Deps(ctx, tokens))]


def blueprints(ctx: Scheduling, tokens: StaffTokens) -> list[Blueprint]:
    deps = Deps(ctx, tokens)
    return [
        hospitals.blueprint(deps),
        waitlist.blueprint(deps),
        appointments.blueprint(deps),
        offers.blueprint(deps),
        fhir.blueprint(deps),
    ]
