"""The referral service's composition root: settings, store, cipher, HTTP app and handlers.

Configuration: services/referral/config.py (REFERRAL_*; the data and blind-index keys are
read by services/referral/crypto.py), all optional with development defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pymongo.database import Database

from services.referral import advice, advising
from services.referral.admin import admin_blueprint
from services.referral.api import referrals_blueprint
from services.referral.callers import CallerCache
from services.referral.cases import Referrals
from services.referral.clinical import INDEXES as CLINICAL_INDEXES
from services.referral.clinical import clinical_blueprint
from services.referral.config import ReferralConfig
from services.referral.crypto import FieldCipher
from services.referral.deps import Deps
from services.referral.fhir_api import fhir_blueprint
from services.referral.handlers import CONSUMES, handlers
from services.referral.idempotency import retention
from services.referral.keys import caller_by_hash
from services.referral.policies import POLICIES
from services.referral.ratelimit import RateLimiter
from services.referral.repository import INDEXES, Cases, backfill_child_slots
from services.referral.webhooks import internal_blueprint, webhook_blueprint
from shared import auth, health, store
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
    backfill_child_slots(db)  # before the unique child_slot index exists
    store.ensure_indexes(db, INDEXES)
    store.ensure_indexes(db, CLINICAL_INDEXES)
    store.ensure_indexes(db, advising.INDEXES)
    clock = clock or _utcnow
    cipher = cipher or FieldCipher.from_settings(settings)
    config = ReferralConfig.from_settings(settings)
    outbox = Outbox.for_settings(db, settings)
    cases = Cases(db, outbox)
    deps = Deps(
        db=db,
        cases=cases,
        referrals=Referrals(cases, cipher, clock),
        cipher=cipher,
        limiter=RateLimiter(config.rate_limit_per_minute, config.api_workers, clock),
        callers=CallerCache(
            lambda digest: caller_by_hash(db, digest), config.key_cache_s, lambda: clock().timestamp()
        ),
        staff_tokens=auth.for_service(settings, db),
        clock=clock,
        advice=advising.AdviceBook(db, cipher, outbox, clock),
        allow_http_webhooks=config.allow_http_webhooks,
        allow_loopback_webhooks=config.allow_loopback_webhooks,
    )
    app = create_app(
        "referral",
        title="Waymark referral API",
        description=DESCRIPTION,
        blueprints=[
            referrals_blueprint(deps),
            fhir_blueprint(deps),
            webhook_blueprint(deps),
            clinical_blueprint(deps),
            advice.school_blueprint(deps),
            advice.clinical_blueprint(deps),
            internal_blueprint(deps),
            admin_blueprint(deps),
        ],
        checks=health.checks(settings, db),
        max_body_bytes=config.max_body_bytes,
        trusted_origins=settings.trusted_origins,
    )
    auth.install_policies(app, deps.staff_tokens, POLICIES)
    return Service(
        settings=settings,
        db=db,
        app=app,
        outbox=outbox,
        handlers=handlers(cases, clock),
        consumes=list(CONSUMES),
        retained=[retention(config.idempotency_window)],
    )
