"""Every route of every service and the console answers hostile bodies with 4xx, never 500.

Issue 11 item 8: 10,000-deep JSON raised RecursionError (500) on /v1/referrals, the public
questionnaire POST and /v1/allocation/rebalance; a lone surrogate crashed encryption.
Each route that takes a body is sent these with an operator token and with a school key
(whichever the route wants) and must answer 4xx, never 500.
"""

from __future__ import annotations

import re

import mongomock
import pytest
from flask import Flask

from services.assessment.bootstrap import build as build_assessment
from services.console.bootstrap import build as build_console
from services.notification.bootstrap import build as build_notification
from services.referral.bootstrap import build as build_referral
from services.referral.keys import create_school_key
from services.scheduling.bootstrap import build as build_scheduling
from services.scheduling.config import Config
from shared.auth import StaffTokens
from shared.settings import Settings

SECRET = "unit-test-secret-0123456789-abcdefghij"
DEEP = "[" * 10_000 + "]" * 10_000
DEEP_OBJECT = '{"a":' * 10_000 + "1" + "}" * 10_000
SURROGATE = '{"student": {"name": "\\ud800"}, "name": "\\ud800", "reason": "\\ud800", "apply": true}'
BODIES = {"deep list": DEEP, "deep object": DEEP_OBJECT, "lone surrogate": SURROGATE}


def _apps() -> dict[str, tuple[Flask, list[dict[str, str]]]]:
    def db(name: str):
        return mongomock.MongoClient(tz_aware=True)[name]

    operator = {"Authorization": f"Bearer {StaffTokens(SECRET).issue('op', 'operator')}"}
    service = {"Authorization": f"Bearer {StaffTokens(SECRET).issue('svc', 'service')}"}
    clinician = {"Authorization": f"Bearer {StaffTokens(SECRET).issue('dr', 'clinician')}"}
    scheduler = {"Authorization": f"Bearer {StaffTokens(SECRET).issue('sch', 'scheduler')}"}
    staff = [operator, service, clinician, scheduler]

    referral_db = db("referral_bad_input")
    referral = build_referral(Settings(service="referral", staff_token_secret=SECRET), db=referral_db)
    school = {"Authorization": f"Bearer {create_school_key(referral_db, 'school-a', 'A').key}"}
    scheduling = build_scheduling(
        Settings(service="scheduling", staff_token_secret=SECRET),
        db=db("scheduling_bad_input"),
        config=Config(offer_secret="offer-secret"),
        run_duties=False,
    )
    settings = Settings(
        service="notification",
        staff_token_secret=SECRET,
        extra={"NOTIFICATION_ONCALL": '{"default": {"email": "oncall@hospital.example"}}'},
    )
    return {
        "referral": (referral.app, [school, *staff]),
        "assessment": (
            build_assessment(
                Settings(service="assessment", staff_token_secret=SECRET), db=db("assessment_bad_input")
            ).app,
            staff,
        ),
        "scheduling": (scheduling.app, staff),
        "notification": (build_notification(settings, db=db("notification_bad_input")).app, staff),
        "console": (build_console(Settings(service="console", staff_token_secret=SECRET), urls={}), staff),
    }


APPS = _apps()


def _routes() -> list[tuple[str, str, str]]:
    found = []
    for name, (app, _) in APPS.items():
        for rule in app.url_map.iter_rules():
            for method in sorted((rule.methods or set()) & {"POST", "PUT", "PATCH"}):
                found.append((name, method, re.sub(r"<[^>]+>", "x-1", rule.rule)))
    return found


ROUTES = _routes()


def test_every_service_has_routes_with_bodies_under_test():
    assert {name for name, _, _ in ROUTES} >= {
        "referral",
        "assessment",
        "scheduling",
        "notification",
        "console",
    }
    assert ("assessment", "POST", "/v1/questionnaire-responses/x-1") in ROUTES
    assert ("scheduling", "POST", "/v1/allocation/rebalance") in ROUTES


@pytest.mark.parametrize("body", list(BODIES), ids=list(BODIES))
@pytest.mark.parametrize(("service", "method", "path"), ROUTES, ids=[f"{s} {m} {p}" for s, m, p in ROUTES])
def test_hostile_bodies_never_answer_500(service, method, path, body):
    app, credentials = APPS[service]
    client = app.test_client()
    for headers in [{}, *credentials]:
        response = client.open(
            path, method=method, data=BODIES[body], content_type="application/json", headers=headers
        )
        assert response.status_code < 500, (headers, response.get_json())
        assert (response.is_json and "error" in response.get_json()) or response.status_code < 400


@pytest.mark.parametrize(
    ("service", "path"),
    [
        ("referral", "/v1/referrals"),
        ("assessment", "/v1/questionnaire-responses/x-1"),
        ("scheduling", "/v1/allocation/rebalance"),
    ],
)
def test_the_reported_routes_answer_deep_json_with_400_naming_the_problem(service, path):
    app, credentials = APPS[service]
    answers = [
        app.test_client().post(path, data=DEEP, content_type="application/json", headers=headers)
        for headers in credentials
    ]
    admitted = [r for r in answers if r.status_code not in (401, 403)]  # the caller the route is for
    assert admitted, [r.get_json() for r in answers]
    response = admitted[0]
    assert response.status_code == 400, response.get_json()
    assert "nested too deeply" in response.get_json()["error"]["message"]


PUBLIC = {
    ("assessment", "POST", "/v1/questionnaire-responses/x-1"),  # the link's token authorises
    ("scheduling", "POST", "/v1/offer-responses/x-1/accept"),  # the offer link's token authorises
    ("scheduling", "POST", "/v1/offer-responses/x-1/decline"),
    *(
        (service, "POST", path)
        for service in ("console", "scheduling", "assessment")
        for path in ("/staff/sign-in", "/staff/sign-out")  # the form is the credential; sign-out forgets it
    ),
}


@pytest.mark.parametrize(
    ("service", "method", "path"),
    [r for r in ROUTES if r not in PUBLIC],
    ids=[f"{s} {m} {p}" for s, m, p in ROUTES if (s, m, p) not in PUBLIC],
)
def test_a_caller_without_credentials_gets_401_before_any_body_is_read(service, method, path):
    app, _ = APPS[service]
    for body in ('{"$where": "1", "school_id": "no such"}', DEEP, SURROGATE):
        response = app.test_client().open(path, method=method, data=body, content_type="application/json")
        assert response.status_code == 401, response.get_json()
