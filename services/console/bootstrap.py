"""Composition root of the console: which services to watch and where their dead letters live."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask
from pymongo.database import Database

from services.console import api, sources
from services.console.dead_letters import DeadLetters, for_mode
from shared import auth, store
from shared.auth import StaffTokens, TokenSource
from shared.http import create_app
from shared.memory_bus import MemoryBus
from shared.settings import CONSOLE, SERVICES, Settings
from shared.staff import web as staff_web
from shared.staff.signin import StaffAuth

NAME = CONSOLE
WATCHED = tuple(SERVICES)
"""Every service of the platform (the one list: ``shared.settings.SERVICES``)."""


def service_urls(settings: Settings) -> dict[str, str]:
    """``CONSOLE_<SERVICE>_URL`` overrides; by default each service on its configured port here."""
    return {
        name: settings.extra.get(f"CONSOLE_{name.upper()}_URL")
        or f"http://127.0.0.1:{Settings.from_env(name).port}"
        for name in WATCHED
    }


def build(
    settings: Settings,
    *,
    urls: Mapping[str, str] | None = None,
    bus: MemoryBus | None = None,
    dead_letters: DeadLetters | None = None,
    auth_db: Database | None = None,
    staff_auth: StaffAuth | None = None,
) -> Flask:
    """``auth_db``: where revoked staff tokens and staff accounts/sessions are kept (default: the
    store's WAYMARK_AUTH_DB); ``staff_auth``: the sign-in rules on it (tests pass cheap hashing)."""
    urls = dict(urls or service_urls(settings))
    endpoints = [sources.ServiceEndpoint(name, url) for name, url in urls.items()]
    auth_db = auth_db if auth_db is not None else store.connect(settings.but(mongo_db=settings.auth_db))
    tokens = StaffTokens(
        settings.staff_token_secret,
        revocations=auth.RevocationList(auth_db, cache_s=settings.revocation_cache_s),
        ttl_s=settings.staff_token_ttl_s,
    )
    own_token = TokenSource(tokens, "console", role="operator")
    blueprint = api.blueprint(
        endpoints, dead_letters or for_mode(bus, settings.kafka_bootstrap), own_token, tokens
    )
    app = create_app(
        NAME,
        title="Waymark operator console",
        description="Health, event flow, consumer lag, dead letters and waitlist pressure across the network.",
        blueprints=[blueprint],
        pages=[api.pages()],
        checks={},
        trusted_origins=settings.trusted_origins,
    )
    if staff_auth is None:
        staff_web.mount(app, settings, auth_db, home="/")
    else:
        staff_web.install(app, staff_auth, secure_cookie=settings.staff.cookie_secure, home="/")
    auth.install_policies(app, tokens, {**api.POLICIES, **staff_web.POLICIES})
    return app
