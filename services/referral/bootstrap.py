"""The referral service's composition root: settings, store, cipher, HTTP app and handlers.

Configuration (settings.extra, all optional with development defaults):
REFERRAL_DATA_KEYS (Fernet keys, comma-separated, first encrypts), REFERRAL_INDEX_KEY
(blind-index HMAC key), REFERRAL_RATE_LIMIT_PER_MINUTE (per API key, default 120),
REFERRAL_MAX_BODY_BYTES (default 65536), REFERRAL_ALLOW_HTTP_WEBHOOKS (default: only
in embedded mode).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pymongo.database import Database

from services.referral.admin import admin_blueprint
from services.referral.api import referrals_blueprint
from services.referral.cases import Referrals
from services.referral.crypto import FieldCipher
from services.referral.deps import Deps
from services.referral.handlers import CONSUMES, handlers
from services.referral.idempotency import IdempotencyStore
from services.referral.ratelimit import RateLimiter
from services.referral.repository import INDEXES, Cases
from services.referral.webhooks import internal_blueprint, webhook_blueprint
from shared import health, store
from shared.auth import StaffTokens
from shared.http import create_app
from shared.outbox import Outbox
from shared.service import Service
from shared.settings import Settings

DESCRIPTION = (
    "The schools' front door to the regional school-refusal clinics: refer a child, follow the case, "
    "report attendance during the return plan. Authenticate with the school's API key "
    "(Authorization: Bearer wm_school_...)."
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def build(
    settings: Settings,
    *,
    db: Database | None = None,
    clock: Callable[[], datetime] | None = None,
    cipher: FieldCipher | None = None,
) -> Service:
    db = db if db is not None else store.connect(settings)
    store.ensure_indexes(db, INDEXES)
    clock = clock or _utcnow
    cipher = cipher or FieldCipher.from_settings(settings)
    extra = settings.extra
    outbox = Outbox.for_settings(db, settings)
    cases = Cases(db, outbox)
    deps = Deps(
        db=db,
        cases=cases,
        referrals=Referrals(cases, cipher, clock),
        cipher=cipher,
        idempotency=IdempotencyStore(db, clock),
        limiter=RateLimiter(db, int(extra.get("REFERRAL_RATE_LIMIT_PER_MINUTE", 120)), clock),
        staff_tokens=StaffTokens(settings.staff_token_secret),
        clock=clock,
        allow_http_webhooks=extra.get("REFERRAL_ALLOW_HTTP_WEBHOOKS", "1" if settings.embedded else "0")
        == "1",
    )
    app = create_app(
        "referral",
        title="Waymark referral API",
        description=DESCRIPTION,
        blueprints=[
            referrals_blueprint(deps),
            webhook_blueprint(deps),
            internal_blueprint(deps),
            admin_blueprint(deps),
        ],
        checks=health.checks(settings, db),
        max_body_bytes=int(extra.get("REFERRAL_MAX_BODY_BYTES", 64 * 1024)),
    )
    return Service(
        settings=settings,
        db=db,
        app=app,
        outbox=outbox,
        handlers=handlers(cases, clock),
        consumes=list(CONSUMES),
    )
