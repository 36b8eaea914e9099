"""What every route module shares: staff checks with hospital scope, error mapping, JSON-safe documents."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import request
from flask_smorest import Blueprint, abort

from services.scheduling import repository as repo
from services.scheduling.context import Conflict, NotFound, Scheduling
from shared.auth import Principal, StaffTokens, require_staff

READERS = ("scheduler", "operator", "clinician")


@dataclass(frozen=True)
class Deps:
    ctx: Scheduling
    tokens: StaffTokens

    def staff(self, hospital_id: str | None = None, roles: tuple[str, ...] = ("scheduler",)) -> Principal:
        principal = require_staff(self.tokens, *roles)
        if hospital_id is not None and not principal.can_act_for(hospital_id):
            abort(403, message=f"Your staff token does not cover hospital {hospital_id}.")
        return principal

    def guard(self, blp: Blueprint, public_prefix: str | None = None) -> None:
        """Authenticate before arguments are parsed, so strangers learn nothing from validation errors."""

        @blp.before_request
        def _authenticated() -> None:
            if public_prefix and request.path.startswith(public_prefix):
                return
            require_staff(self.tokens)

    def regional(self, roles: tuple[str, ...] = ("scheduler",)) -> Principal:
        return self.staff("*", roles)


@contextmanager
def domain_errors() -> Iterator[None]:
    """NotFound → 404 and Conflict → 409, in the shared JSON error shape."""
    try:
        yield
    except NotFound as exc:
        abort(404, message=str(exc))
    except Conflict as exc:
        abort(409, message=str(exc))


def public(doc: dict[str, Any] | None) -> dict[str, Any]:
    """A stored document in JSON terms: ``_id`` as ``id``, instants in RFC 3339 UTC.

    It filters nothing: each route's response schema (services/scheduling/schemas.py) is the
    allow-list, so a field the store gains later never reaches a response unless it is named there.
    """
    out: dict[str, Any] = {}
    for key, value in (doc or {}).items():
        name = "id" if key == "_id" else key
        out[name] = repo.iso(value) if isinstance(value, datetime) else value
    return out


def scoped(principal: Principal, hospital_ids: list[str]) -> list[str] | None:
    """The hospitals this principal may see among ``hospital_ids`` (None = all)."""
    return None if "*" in principal.hospitals else [h for h in hospital_ids if principal.can_act_for(h)]


Route = Callable[..., Any]
