"""Composition root of the assessment service: settings, store, data tables, use cases, HTTP, events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pymongo.database import Database

from services.assessment import (
    api,
    catalogue,
    fhir_api,
    pages,
    questionnaires,
    rule_versions,
    scope,
    tasks,
    triage_reviews,
    workspace,
)
from services.assessment.casework import Casework
from services.assessment.config import AssessmentConfig, ConfigError
from services.assessment.contacts import ReferralContacts
from services.assessment.crisis import CrisisResources
from services.assessment.domain import rules as rule_table
from services.assessment.followup import FollowUp
from services.assessment.handlers import build_handlers
from services.assessment.measurement import Measurement
from services.assessment.policies import POLICIES
from services.assessment.questionnaires import Questionnaires
from services.assessment.repository import INDEXES, CaseRepository
from shared import auth, health, store, topics
from shared.http import create_app
from shared.outbox import Outbox
from shared.service import Service
from shared.settings import Settings
from shared.staff import web as staff_web

NAME = "assessment"


def build(
    settings: Settings, *, db: Database | None = None, clock: Callable[[], datetime] | None = None
) -> Service:
    config = AssessmentConfig.from_extra(settings.extra)
    instruments = catalogue.load_instruments(config)
    effective_rules = catalogue.effective_rules(config, instruments)
    rules = rule_table.parse(effective_rules)
    db = db if db is not None else store.connect(settings)
    store.ensure_indexes(db, INDEXES)
    rule_versions.remember(db, effective_rules)
    store.ensure_indexes(db, questionnaires.INDEXES)
    store.ensure_indexes(db, tasks.INDEXES)
    store.ensure_indexes(db, triage_reviews.INDEXES)
    scope.backfill(db)  # cases stored before hospital_ids: the scoped lists filter on it
    clock = clock or (lambda: datetime.now(UTC))

    outbox = Outbox.for_settings(db, settings)
    repo = CaseRepository(db, outbox)
    casework = Casework(repo, rules, clock, config.review_hospitals, config.review_hours)
    measurement = Measurement(
        repo, rules, clock, instruments, config.licensed_instruments, config.sras_tie_margin
    )
    followup = FollowUp(repo, clock, config.relapse_weeks)
    invitations = Questionnaires(
        db,
        repo,
        measurement,
        instruments,
        clock,
        config.public_base_url or f"http://{settings.host}:{settings.port}",
        outbox,
        CrisisResources.load(config.crisis_resources_file),
    )
    referral_url = config.referral_url or f"http://127.0.0.1:{Settings.from_env('referral').port}"
    worklist = tasks.Tasks(
        db,
        repo,
        outbox,
        config,
        clock,
        ReferralContacts(referral_url, auth.TokenSource(auth.StaffTokens(settings.staff_token_secret), NAME)),
    )
    if not settings.embedded and (gaps := worklist.hospitals_without_oncall()):
        # Stack mode refuses to start with hospitals holding cases and nobody on call (HZ-02).
        raise ConfigError(f"ASSESSMENT_ONCALL has no clinician for hospitals holding cases: {gaps}")
    deps = api.Api(
        auth.for_service(settings, db),
        casework,
        measurement,
        followup,
        instruments,
        config.licensed_instruments,
        invitations,
        worklist,
        lambda version: rule_versions.find(db, version),
    )
    app = create_app(
        NAME,
        title="Waymark assessment",
        description="Explainable triage, escalation, instruments and return-plan follow-up.",
        blueprints=[
            *api.blueprints(deps),
            fhir_api.blueprint(deps),
            workspace.triage_reviews(triage_reviews.TriageReviewQueue(db), deps.tokens),
        ],
        pages=[pages.pages(), workspace.pages()],
        checks=health.checks(settings, db),
        trusted_origins=settings.trusted_origins,
    )
    # Clinicians sign in on this service's pages (the workspace, /clinic) with their staff account.
    staff_web.mount(app, settings, db.client[settings.auth_db], home="/clinic")
    auth.install_policies(app, deps.tokens, {**POLICIES, **workspace.POLICIES, **staff_web.POLICIES})
    return Service(
        settings=settings,
        db=db,
        app=app,
        outbox=outbox,
        handlers=build_handlers(casework, followup, invitations, worklist),
        consumes=[topics.events("referral"), topics.events("scheduling"), topics.events(NAME)],
        background=[worklist.duty],
    )
