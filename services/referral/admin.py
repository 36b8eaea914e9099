"""Operators' routes for schools and their API keys (staff token, role ``operator``).

The ``waymark school-key`` command calls these, so keys are issued by the service that
owns them in every mode — embedded or stack — without the CLI touching the database.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint, abort

from services.referral.deps import Deps
from services.referral.domain.vocabulary import ID_PATTERN
from services.referral.keys import create_school_key, list_school_keys, revoke_school_key
from shared.auth import require_staff


class NewKeySchema(ma.Schema):
    school_id = ma.fields.String(required=True, validate=ma.validate.Regexp(ID_PATTERN))
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))


class IssuedKeySchema(ma.Schema):
    key_id = ma.fields.String()
    school_id = ma.fields.String()
    key = ma.fields.String(metadata={"description": "Shown once; only its hash is stored."})


class KeySchema(ma.Schema):
    key_id = ma.fields.String(attribute="_id")
    school_id = ma.fields.String()
    created_at = ma.fields.DateTime()
    revoked_at = ma.fields.DateTime(allow_none=True)


class KeyQuery(ma.Schema):
    school_id = ma.fields.String(validate=ma.validate.Regexp(ID_PATTERN))


def admin_blueprint(deps: Deps) -> Blueprint:
    blp = Blueprint("admin", __name__, url_prefix="/admin/v1", description="Schools' API keys (operators).")

    @blp.before_request
    def _operator() -> None:
        """Authenticate before the body is parsed: a stranger gets 401, never a validation answer."""
        require_staff(deps.staff_tokens, "operator")

    @blp.post("/school-keys")
    @blp.arguments(NewKeySchema)
    @blp.response(201, IssuedKeySchema)
    def create(body: dict[str, str]) -> Any:
        """Register the school if new and issue it a key (rotate by creating, then revoking the old)."""
        return create_school_key(deps.db, body["school_id"], body["name"], now=deps.clock())

    @blp.get("/school-keys")
    @blp.arguments(KeyQuery, location="query")
    @blp.response(200, KeySchema(many=True))
    def listing(query: dict[str, str]) -> Any:
        return list_school_keys(deps.db, query.get("school_id"))

    @blp.delete("/school-keys/<key_id>")
    @blp.response(204)
    def revoke(key_id: str) -> None:
        """Revoke a key: API workers stop accepting it within REFERRAL_KEY_CACHE_S seconds (default 30)."""
        if not revoke_school_key(deps.db, key_id, now=deps.clock()):
            abort(404, message=f"No active key {key_id!r}.")
        deps.callers.forget(key_id)

    return blp
