"""Composition root: settings, store, clock and bus-facing parts wired into one Service."""

from __future__ import annotations

from datetime import timedelta

from pymongo.database import Database

from services.scheduling import api, duties, handlers, raises
from services.scheduling.config import Clock, Config, system_clock
from services.scheduling.context import Scheduling
from services.scheduling.policies import POLICIES
from services.scheduling.repository import INDEXES, drop_obsolete_indexes
from shared import auth, health, housekeeping, store
from shared.http import create_app
from shared.outbox import Outbox
from shared.service import Service
from shared.settings import Settings
from shared.staff import web as staff_web

DESCRIPTION = (
    "The shared regional waitlist: hospitals, sessions and slots; offers with hold windows; "
    "booking, attendance and follow-up; network rebalancing and waiting-list pressure."
)


RAISES_KEPT = timedelta(days=1)


def build(
    settings: Settings,
    *,
    db: Database | None = None,
    clock: Clock | None = None,
    config: Config | None = None,
    run_duties: bool = True,
) -> Service:
    db = db if db is not None else store.connect(settings)
    store.ensure_indexes(db, INDEXES)
    drop_obsolete_indexes(db)
    ctx = Scheduling(
        db=db,
        config=config
        or Config.from_extra(
            settings.extra,
            embedded=settings.embedded,
            public_base_url=f"http://{settings.host}:{settings.port}",
        ),
        clock=clock or system_clock,
        outbox=Outbox.for_settings(db, settings),
    )
    tokens = auth.for_service(settings, db)
    app = create_app(
        settings.service,
        title="Waymark scheduling",
        description=DESCRIPTION,
        blueprints=api.blueprints(ctx, tokens),
        pages=api.pages(ctx, tokens),
        checks=health.checks(settings, db),
        trusted_origins=settings.trusted_origins,
    )
    staff_web.mount(app, settings, db.client[settings.auth_db], home="/ui")
    auth.install_policies(app, tokens, {**POLICIES, **staff_web.POLICIES})
    app.extensions["scheduling"] = ctx
    return Service(
        settings=settings,
        db=db,
        app=app,
        outbox=ctx.outbox,
        handlers=handlers.handlers(ctx),
        consumes=handlers.CONSUMES,
        background=[lambda stop: duties.run(ctx, stop), lambda stop: duties.run_counts(ctx, stop)]
        if run_duties
        else [],
        # the raise records (HZ-15) matter for the repair window only: a day is ample
        retained=[housekeeping.Retention(raises.COLLECTION, "at", RAISES_KEPT)],
    )
