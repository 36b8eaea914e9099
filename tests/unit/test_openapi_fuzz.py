"""Schemathesis against every service's generated OpenAPI document: no request may cause a 5xx.

Each service is built in-process on mongomock with just enough data for generated requests
to reach real code: credentials for every operation (config headers) and, for about half the
cases, path parameters naming records that exist. Generation is derandomised with a fixed
seed, so CI sees the same cases every run; every 4xx must carry the shared JSON error shape.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import mongomock
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err

from services.assessment.bootstrap import build as build_assessment
from services.notification.bootstrap import build as build_notification
from services.notification.channels.base import RecordingChannel
from services.notification.directory import MemoryContactDirectory, demo_contacts
from services.notification.offer_links import MemoryOfferLinks
from services.referral.bootstrap import build as build_referral
from services.referral.keys import create_school_key
from services.scheduling.bootstrap import build as build_scheduling
from services.scheduling.config import Config as SchedulingConfig
from services.scheduling.seed import seed_region
from shared.auth import StaffTokens
from shared.events import Event, event_type
from shared.settings import Settings
from tests.unit.referral.conftest import referral as valid_referral

INSTRUMENTS = Path(__file__).parents[2] / "services" / "assessment" / "instruments"
SEED = 20250312
MAX_EXAMPLES = 25
NOW = datetime(2025, 3, 12, 1, 0, tzinfo=UTC)
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def clock() -> datetime:
    return NOW


def staff(service_settings: Settings, role: str) -> dict[str, str]:
    token = StaffTokens(service_settings.staff_token_secret).issue(f"fuzz-{role}", role, ["*"])
    return {"Authorization": f"Bearer {token}"}


ValidBody = Callable[[schemathesis.Case], "dict[str, Any] | None"]


def load(
    app: Any,
    headers: Mapping[str, str],
    known: Mapping[str, Sequence[str]],
    per_path: Sequence[tuple[str, Mapping[str, str]]] = (),
    valid: Mapping[str, ValidBody] = MappingProxyType({}),
) -> schemathesis.BaseSchema:
    """The app's schema with fixed headers (per path regex where given), seeded path ids and valid bodies.

    Rules the JSON Schema cannot state (a Monday, a guardian with a phone or an email, ...) keep
    purely generated bodies at 422; so some cases instead send a known-valid body (``valid``, by
    operation label) with one of its top-level fields replaced by the generated one, which gets
    generated values past validation and into the code behind it.
    """
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "headers": dict(headers),
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            "operations": [{"include-path-regex": regex, "headers": dict(h)} for regex, h in per_path],
        }
    )
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app, config=config)

    @schema.hook
    def flatmap_path_parameters(context: schemathesis.HookContext, path_parameters: dict[str, Any]):
        names = [name for name in path_parameters or () if name in known]
        if not names:
            return st.just(path_parameters)
        existing = st.fixed_dictionaries({name: st.sampled_from(list(known[name])) for name in names})
        return st.one_of(st.just(path_parameters), existing.map(lambda ids: {**path_parameters, **ids}))

    @schema.hook
    def flatmap_case(context: schemathesis.HookContext, case: schemathesis.Case):
        make = valid.get(case.operation.label)
        base = make(case) if make else None
        if base is None or not isinstance(case.body, dict):
            return st.just(case)
        mixed = [base, *({**base, key: value} for key, value in sorted(case.body.items()))]
        return st.one_of(st.just(case), st.sampled_from(mixed).map(lambda body: with_body(case, body)))

    return schema


def with_body(case: schemathesis.Case, body: dict[str, Any]) -> schemathesis.Case:
    case.body = copy.deepcopy(body)
    return case


def check(case: schemathesis.Case) -> None:
    """No 5xx; every 4xx in the shared JSON error shape (shared/http.py)."""
    response = case.call_and_validate(checks=[not_a_server_error])
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        assert body["error"]["status"] == response.status_code, body
        assert isinstance(body["error"]["code"], str), body
        assert isinstance(body["error"]["message"], str), body


# --- referral ---------------------------------------------------------------------------------

REFERRAL = valid_referral()  # the referral unit tests' known-valid body


def referral_schema() -> schemathesis.BaseSchema:
    service_settings = Settings(service="referral", extra={"REFERRAL_RATE_LIMIT_PER_MINUTE": "100000"})
    db = mongomock.MongoClient(tz_aware=True)["referral"]
    service = build_referral(service_settings, db=db, clock=clock)
    issued = create_school_key(db, "school-fuzz", "Fuzz Middle School", now=NOW)
    school = {"Authorization": f"Bearer {issued.key}"}
    client = service.app.test_client()
    created = client.post("/v1/referrals", json=REFERRAL, headers=school)
    assert created.status_code == 201, created.json
    amendment = {"absence": REFERRAL["absence"], "preferences": REFERRAL["preferences"]}
    attendance = {"week_start": "2025-03-03", "hours_by_day": [6, 6, 3, 0, 6]}
    return load(
        service.app,
        school,
        {"case_id": [created.json["case_id"]], "key_id": [issued.key_id]},
        [
            ("^/admin/", staff(service_settings, "operator")),
            ("^/internal/", staff(service_settings, "service")),
        ],
        {
            "POST /v1/referrals": lambda _: REFERRAL,
            "PATCH /v1/referrals/{case_id}": lambda _: amendment,
            "POST /v1/referrals/{case_id}/attendance": lambda _: attendance,
            "PUT /v1/webhook": lambda _: {"url": "https://school.example/hooks"},
        },
    )


# --- assessment -------------------------------------------------------------------------------


def assessment_schema() -> schemathesis.BaseSchema:
    shipped = sorted(path.stem for path in INSTRUMENTS.glob("*.json"))
    service_settings = Settings(
        service="assessment", extra={"ASSESSMENT_LICENSED_INSTRUMENTS": ",".join(shipped)}
    )
    service = build_assessment(
        service_settings, db=mongomock.MongoClient(tz_aware=True)["assessment"], clock=clock
    )
    data = {
        "case_id": "case-fuzz",
        "school_id": "school-fuzz",
        "referred_on": "2025-03-10",
        "age_band": "12-14",
        "grade": 7,
        "district": "haidian",
        "concerns": ["anxiety"],
        "risk_flags": [],
        "absence": {"start": "2025-02-17", "days_missed_last_20": 12, "partial_days_last_20": 3},
        "return_attempts": 1,
        "impairments": [],
        "exam_year": False,
        "transition_year": False,
        "preferences": {
            "hospitals": ["bch"],
            "max_travel_km": 30,
            "home_district": "haidian",
            "weekdays": ["mon"],
            "language": "zh-CN",
        },
    }
    service.handlers["referral.submitted"](
        Event(event_type("referral.submitted"), "/services/referral", "case-fuzz", data)
    )
    listed = service.app.test_client().get("/v1/instruments", headers=staff(service_settings, "clinician"))
    instruments = [item["id"] for item in listed.json["items"]]
    assert service.db.cases.find_one({"_id": "case-fuzz"}) and instruments
    plan = {"weeks": [{"week_start": "2025-03-17", "target_hours_per_day": 2}]}
    return load(
        service.app,
        staff(service_settings, "clinician"),
        {"case_id": ["case-fuzz"], "instrument_id": instruments},
        valid={
            "POST /v1/cases/{case_id}/instruments/{instrument_id}/responses": instrument_answers,
            "POST /v1/cases/{case_id}/return-plan": lambda _: plan,
        },
    )


def instrument_answers(case: schemathesis.Case) -> dict[str, Any] | None:
    """A complete administration of the instrument in the path: every item answered with its lowest value."""
    path = INSTRUMENTS / f"{(case.path_parameters or {}).get('instrument_id')}.json"
    if not path.is_file():
        return None
    instrument = json.loads(path.read_text())
    lowest = {name: options[0]["value"] for name, options in instrument["scales"].items()}
    answers = {item["id"]: lowest[item["scale"]] for item in instrument["items"]}
    return {"informant": instrument["informants"][0], "responses": answers}


# --- notification -----------------------------------------------------------------------------


def notification_schema() -> schemathesis.BaseSchema:
    service_settings = Settings(service="notification")
    service = build_notification(
        service_settings,
        db=mongomock.MongoClient(tz_aware=True)["notification"],
        clock=clock,
        channels={"email": RecordingChannel(), "sms": RecordingChannel(), "webhook": RecordingChannel()},
        directory=MemoryContactDirectory(default=demo_contacts),
        offer_links=MemoryOfferLinks({}),
    )
    service.handlers["referral.submitted"](
        Event(event_type("referral.submitted"), "/services/referral", "case-fuzz", {"case_id": "case-fuzz"})
    )
    deliveries = [d["_id"] for d in service.db.deliveries.find({}, {"_id": 1})]
    assert deliveries
    return load(service.app, staff(service_settings, "operator"), {"delivery_id": deliveries})


# --- scheduling -------------------------------------------------------------------------------


def scheduling_schema() -> schemathesis.BaseSchema:
    service_settings = Settings(service="scheduling")
    config = SchedulingConfig(offer_secret="fuzz-offer-secret")
    db = mongomock.MongoClient(tz_aware=True)["scheduling"]
    service = build_scheduling(service_settings, db=db, clock=clock, config=config, run_duties=False)
    seed_region(db, clock, config=config, families=3)
    known = {
        "hospital_id": [h["_id"] for h in db.hospitals.find({}, {"_id": 1})],
        "case_id": [w["_id"] for w in db.waitlist.find({}, {"_id": 1})],
        "session_id": [s["_id"] for s in db.sessions.find({}, {"_id": 1}).limit(3)],
    }
    assert all(known.values()), known
    return load(service.app, staff(service_settings, "scheduler"), known)


referral = referral_schema()
assessment = assessment_schema()
notification = notification_schema()
scheduling = scheduling_schema()


@referral.parametrize()
@FUZZ
def test_referral_api_never_answers_5xx(case):
    check(case)


@assessment.parametrize()
@FUZZ
def test_assessment_api_never_answers_5xx(case):
    check(case)


@notification.parametrize()
@FUZZ
def test_notification_api_never_answers_5xx(case):
    check(case)


@scheduling.parametrize()
@FUZZ
def test_scheduling_api_never_answers_5xx(case):
    check(case)


SCHEMAS = {
    "referral": referral,
    "assessment": assessment,
    "notification": notification,
    "scheduling": scheduling,
}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_openapi_document_is_valid(name):
    """schemathesis' loader accepts the document: valid OpenAPI 3.0, every operation resolvable."""
    schema = SCHEMAS[name]
    schema.validate()
    errors = [result.err() for result in schema.get_all_operations() if isinstance(result, Err)]
    assert not errors
