"""The Flask app factory every service uses: JSON errors, health, readiness, metrics, OpenAPI.

Errors always answer with one JSON shape naming each bad field and its problem::

    {"error": {"status": 422, "code": "validation_failed", "message": "...",
               "fields": {"student.date_of_birth": ["Not a valid date."]},
               "correlation_id": "..."}}
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import flask_smorest
from flask import Blueprint as FlaskBlueprint
from flask import Flask, Response, current_app, g, jsonify, request, send_from_directory
from flask.json.provider import DefaultJSONProvider
from flask_smorest import Api, Blueprint, abort
from marshmallow import Schema, missing
from pymongo.errors import ConnectionFailure
from swagger_ui_bundle import swagger_ui_path
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import BadRequest, HTTPException

from shared import context, json_input, metrics

log = logging.getLogger(__name__)

Check = Callable[[], None]
MAX_BODY_BYTES = 64 * 1024
_OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
STORE_RETRY_AFTER_S = 5
SWAGGER_UI_ASSETS = "/docs/assets/"
"""Retry-After on a 503 for a store outage: about pymongo's server selection timeout."""


class BodyParser(FlaskParser):
    """webargs' parser with Waymark's body rules (shared.json_input): bounded depth → 400,
    control, bidi and surrogate characters → 422 naming the field.

    Body parsing runs inside the view's ``@blp.arguments`` wrapper, after the blueprint's
    ``before_request`` authentication, so a stranger gets 401 before any validation answer.
    """

    def _raw_load_json(self, req: Any) -> Any:
        if not is_json_request(req):
            return missing
        return json_input.loads(req.get_data(cache=True))

    def load_json(self, req: Any, schema: Schema) -> Any:
        try:
            data = super().load_json(req, schema)
            found = json_input.problems(data, schema) if data is not missing else {}
        except json_input.TooDeep as exc:
            abort(400, message=str(exc), messages={"json": [str(exc)]})
        if found:
            abort(422, messages={"json": found})
        return data


class JSONProvider(DefaultJSONProvider):
    """``request.get_json`` for the few routes that read a body themselves: absurd nesting is a
    400 naming the problem, not a RecursionError (a 500), even with ``silent=True``."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise BadRequest(json_input.TOO_DEEP) from None


# Every flask_smorest blueprint parses with Waymark's parser. ``arguments()`` binds the parser
# when a route is decorated, and services build their blueprints after importing this module.
flask_smorest.Blueprint.ARGUMENTS_PARSER = BodyParser()


def create_app(
    service: str,
    *,
    title: str,
    version: str = "1.0.0",
    description: str = "",
    blueprints: Iterable[Blueprint] = (),
    pages: Iterable[FlaskBlueprint] = (),
    checks: Mapping[str, Check] | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    config: Mapping[str, Any] | None = None,
    trusted_origins: Iterable[str] = (),
) -> Flask:
    app = Flask(service)
    app.json = JSONProvider(app)
    app.config.update(
        API_TITLE=title,
        API_VERSION=version,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=SWAGGER_UI_ASSETS,
        API_SPEC_OPTIONS={"info": {"description": description}},
        MAX_CONTENT_LENGTH=max_body_bytes,
        JSON_SORT_KEYS=False,
        WAYMARK_TRUSTED_ORIGINS=frozenset(o.rstrip("/").lower() for o in trusted_origins if o.strip()),
        **(config or {}),
    )
    api = Api(app)
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    for page in pages:  # HTML for people: served, but not part of the JSON API's OpenAPI document
        app.register_blueprint(page)
    app.extensions["waymark_api"] = api
    _install_error_handlers(app)
    _install_request_hooks(app, service)
    _install_ops_routes(app, dict(checks or {}))
    return app


def error_body(status: int, code: str, message: str, fields: Mapping[str, list[str]] | None = None) -> dict:
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if fields:
        body["fields"] = dict(fields)
    body["correlation_id"] = context.current()
    return {"error": body}


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested error dict → {"guardians.0.email": ["Not a valid email address."]}."""
    if isinstance(messages, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten_messages(value, name))
        return flat
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "_body": list(messages)}
    return {prefix or "_body": [str(messages)]}


def _install_error_handlers(app: Flask) -> None:
    def handle_http(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        data = getattr(exc, "data", None) or {}
        messages = data.get("messages")
        fields = None
        if messages:
            # webargs nests messages by location ("json", "query", ...); users think in fields.
            unwrapped = messages
            if isinstance(messages, Mapping) and len(messages) == 1:
                unwrapped = next(iter(messages.values()))
            fields = flatten_messages(unwrapped)
        code = (exc.name or "error").lower().replace(" ", "_")
        message = data.get("message") or exc.description or exc.name
        if status == 422:
            code, message = "validation_failed", "The request is invalid; see fields."
        elif status == 400 and fields and "_body" in fields:
            code = "invalid_body"
        response = jsonify(error_body(status, code, str(message), fields))
        for key, value in (data.get("headers") or {}).items():
            response.headers[key] = value
        return response, status

    def handle_unexpected(exc: Exception) -> tuple[Response, int]:
        if isinstance(exc, ConnectionFailure):  # the store is down or unreachable: retry later
            log.warning("store unavailable", extra={"path": request.path, "error": repr(exc)[:300]})
            message = "The service's store is unavailable; please retry shortly."
            response = jsonify(error_body(503, "store_unavailable", message))
            response.headers["Retry-After"] = str(STORE_RETRY_AFTER_S)
            return response, 503
        log.exception("unhandled error", extra={"path": request.path})
        return jsonify(error_body(500, "internal_error", "Something went wrong; it has been logged.")), 500

    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(Exception, handle_unexpected)


def _install_request_hooks(app: Flask, service: str) -> None:
    @app.before_request
    def _begin() -> None:
        g.started = time.perf_counter()
        g.correlation = context.bound(request.headers.get(context.HEADER))
        g.correlation.__enter__()
        if request.method in UNSAFE_METHODS:
            require_same_origin()

    @app.after_request
    def _finish(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        if route not in _OPS_PATHS:
            metrics.HTTP_REQUESTS.labels(service, request.method, route, str(response.status_code)).inc()
            metrics.HTTP_LATENCY.labels(service, request.method, route).observe(
                time.perf_counter() - g.get("started", time.perf_counter())
            )
        correlation_id = context.current()
        if correlation_id:
            response.headers[context.HEADER] = correlation_id
        return response

    @app.teardown_request
    def _unbind(_exc: BaseException | None) -> None:
        bound = g.pop("correlation", None)
        if bound is not None:
            bound.__exit__(None, None, None)


def require_same_origin(*, strict: bool = False) -> None:
    """Refuse (403) a request a browser sent from another site's page (CSRF).

    Browsers name the page's origin in ``Origin`` on every state-changing request, and newer
    ones say ``Sec-Fetch-Site``. A request is ours when its Origin's host is the host it was
    sent to (scheme ignored: TLS may end at a proxy) or one of ``WAYMARK_TRUSTED_ORIGINS``.
    A request with neither header comes from a program (curl, another service), which can only
    authenticate with a header it sets itself, so it is let through — unless ``strict``: a
    request authenticated by a cookie must prove where it comes from.
    """
    origin = request.headers.get("Origin")
    site = request.headers.get("Sec-Fetch-Site", "").lower()
    if origin is not None:
        trusted = current_app.config.get("WAYMARK_TRUSTED_ORIGINS", frozenset())
        own = origin != "null" and urlsplit(origin).netloc.lower() == request.host.lower()
        if own or origin.rstrip("/").lower() in trusted:
            return
        abort(403, message="Cross-origin request refused (Origin is not this site).")
    if site in ("cross-site", "same-site"):
        abort(403, message="Cross-site request refused (Sec-Fetch-Site).")
    if strict and site != "same-origin":
        abort(403, message="A cookie-authenticated change must come from this site's own page (Origin).")


def _install_ops_routes(app: Flask, checks: dict[str, Check]) -> None:
    @app.get("/healthz")
    def healthz() -> Response:
        """Alive: the process answers. Orchestrators restart it when this fails."""
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        """Ready: every dependency (store, broker) answers. Load balancers route on this."""
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                check()
                results[name] = "ok"
            except Exception as exc:
                results[name] = f"failing: {exc}"[:300]
        ready = all(v == "ok" for v in results.values())
        return jsonify(status="ready" if ready else "not_ready", checks=results), 200 if ready else 503

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, content_type=content_type)

    @app.get(f"{SWAGGER_UI_ASSETS}<path:name>")
    def swagger_ui_asset(name: str) -> Response:
        """Swagger UI's scripts from the installed package, never a CDN: hospital intranets are often
        offline, and /docs must still render there."""
        return send_from_directory(swagger_ui_path, name, max_age=86400)
