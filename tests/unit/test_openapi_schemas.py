"""Every success response in every service's OpenAPI document says what it returns.

A route without a response schema is undocumented to callers (the contract tier and the
notification → scheduling/referral clients read these documents) and, in flask-smorest, also
unfiltered: whatever the code returns goes out. The response schema is the allow-list.
"""

from __future__ import annotations

from typing import Any

import mongomock
import pytest

from services.platform import available
from shared.settings import Settings

METHODS = ("get", "put", "post", "patch", "delete")


def _spec(name: str) -> dict[str, Any]:
    module = __import__(f"services.{name}.bootstrap", fromlist=["build"])
    service = module.build(Settings(service=name), db=mongomock.MongoClient(tz_aware=True)[name])
    return service.app.extensions["waymark_api"].spec.to_dict()


def _described(schema: dict[str, Any] | None) -> bool:
    """A schema that says something: a reference, properties, items or a type."""
    return bool(schema) and any(k in schema for k in ("$ref", "properties", "items", "type", "allOf"))


def gaps(spec: dict[str, Any]) -> list[str]:
    """Operations with no 2xx response, or a 2xx response (other than 204) without a schema."""
    found = []
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            if method not in item:
                continue
            responses = item[method].get("responses", {})
            successes = {str(code): r for code, r in responses.items() if str(code).startswith("2")}
            if not successes:
                found.append(f"{method.upper()} {path}: no 2xx response declared")
            for code, response in successes.items():
                if code == "204":
                    continue
                content = response.get("content") or {}
                if not content or not all(_described(c.get("schema")) for c in content.values()):
                    found.append(f"{method.upper()} {path} {code}: no response schema")
    return found


@pytest.mark.parametrize("name", available())
def test_every_success_response_has_a_schema(name: str) -> None:
    missing = gaps(_spec(name))
    assert not missing, f"{name}: give these routes @blp.response(<code>, <Schema>):\n" + "\n".join(missing)


def test_the_check_finds_a_route_without_a_schema() -> None:
    spec = {
        "paths": {
            "/a": {"get": {"responses": {"200": {"description": "OK"}}}},
            "/b": {"post": {"responses": {"default": {"description": "Error"}}}},
            "/c": {"delete": {"responses": {"204": {"description": "gone"}}}},
            "/d": {
                "get": {"responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/x"}}}}}}
            },
        }
    }
    assert gaps(spec) == ["GET /a 200: no response schema", "POST /b: no 2xx response declared"]
