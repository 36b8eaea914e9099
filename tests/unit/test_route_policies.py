"""Every route of every service has an access policy, and every staff route obeys it: roles by hospitals.

The routes come from each app's Flask url_map, so a route added without a policy fails
here (and is refused at run time: shared.auth.install_policies fails closed). Each staff
route is called with a token of every role, scoped to the whole region, to the hospital
the request addresses (``A``) and to another one (``B``), against a small world in which
the addressed records exist; the answer must be what the policy says:

* allowed: anything but 401, 403 and 404 (the record exists, so 404 would mean "hidden"),
  never a 5xx;
* denied: 403, or 404 where the route hides records out of the caller's scope.

Requests that change data run against a snapshot restored afterwards, so every call sees
the same world.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import mongomock
import pytest

from services.assessment.bootstrap import build as build_assessment
from services.console.bootstrap import build as build_console
from services.notification.bootstrap import build as build_notification
from services.notification.channels.base import RecordingChannel
from services.notification.directory import MemoryContactDirectory, demo_contacts
from services.notification.offer_links import MemoryOfferLinks
from services.referral.bootstrap import build as build_referral
from services.referral.keys import create_school_key
from services.scheduling import booking, calendar_ops
from services.scheduling.bootstrap import build as build_scheduling
from services.scheduling.config import Config as SchedulingConfig
from services.scheduling.domain.geography import DISTRICT_CENTROIDS
from services.scheduling.seed import HOSPITALS, SESSIONS
from shared.auth import ANY, HOSPITAL, REGION, STAFF, STAFF_ROLES, Policy, StaffTokens, policy_for
from shared.events import Event, event_type
from shared.memory_bus import MemoryBus
from shared.settings import Settings
from tests.unit.referral.conftest import referral as valid_referral

NOW = datetime(2025, 3, 12, 1, 0, tzinfo=UTC)
A, B = "bch", "hdm"  # the addressed hospital and another one (scheduling's demo region)
SCOPES = {"region": ("*",), "own": (A,), "other": (B,)}
INSTRUMENTS = Path(__file__).parents[2] / "services" / "assessment" / "instruments"
HIDDEN = {
    ("GET", "/v1/waitlist/<case_id>"),
    ("POST", "/v1/waitlist/<case_id>/offer"),
    ("GET", "/clinical/v1/cases/<case_id>/school-note"),
    ("POST", "/v1/cases/<case_id>/review"),
    ("GET", "/v1/cases/<case_id>/review"),
    ("GET", "/clinical/v1/advice/<advice_id>"),
    ("POST", "/clinical/v1/advice/<advice_id>/answer"),
    # assessment's clinician routes open to hospital scope (services/assessment/scope.py)
    ("GET", "/v1/cases/<case_id>/triage"),
    ("POST", "/v1/cases/<case_id>/triage/override"),
    ("POST", "/v1/cases/<case_id>/triage/override/cosign"),
    ("POST", "/v1/cases/<case_id>/instruments/<instrument_id>/responses"),
    ("GET", "/v1/cases/<case_id>/instruments/<instrument_id>/trajectory"),
    ("GET", "/v1/cases/<case_id>/contacts"),
    ("GET", "/v1/tasks/<task_id>"),
    ("GET", "/v1/tasks/<task_id>/history"),
    ("POST", "/v1/tasks/<task_id>/acknowledge"),
    ("POST", "/v1/tasks/<task_id>/complete"),
    ("GET", "/v1/cases/<case_id>/instruments/<instrument_id>/responses/<n>/fhir"),
    ("GET", "/v1/cases/<case_id>/instruments/<instrument_id>/observations/fhir"),
    ("GET", "/v1/cases/<case_id>/review/fhir"),
}
"""Routes that answer 404 out of scope, so a token does not learn that a family is waiting
(or, for the school's note, that a family referred to other hospitals exists)."""
FILTERED = {
    ("GET", "/v1/tasks"),
    ("GET", "/v1/triage/queue"),
    ("GET", "/v1/triage/reviews"),
}
"""Lists a hospital-scoped clinician may read, filtered to their hospitals: a token scoped to
another hospital gets 200 and none of the addressed hospital's items; the own hospital and
the region see them."""
ONCALL = {A: {"clinician": "rp-clinician", "second_line": "rp-clinician-2"}}
"""The assessment world's roster: the clinician token of this test (``rp-clinician``) is A's on-call,
so it owns the escalation task, works it and may read the family's contacts."""


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class Call:
    path: str
    json: Any = None


@dataclass
class World:
    app: Any
    db: Any
    calls: dict[tuple[str, str], Call] = field(default_factory=dict)


def scheduling_world() -> World:
    config = SchedulingConfig(offer_secret="route-policy-offer-secret")
    db = mongomock.MongoClient(tz_aware=True)["scheduling"]
    clock = Clock()
    service = build_scheduling(
        Settings(service="scheduling"), db=db, clock=clock, config=config, run_duties=False
    )
    ctx = service.app.extensions["scheduling"]
    for spec in HOSPITALS:  # two hospitals far apart, a fortnight of A's clinics: a small world
        if spec["id"] in (A, B):
            lat, lon = DISTRICT_CENTROIDS[spec["district"]]
            calendar_ops.put_hospital(ctx, spec["id"], {**without_id(spec), "lat": lat, "lon": lon})
    for weekday, start, end, kind in SESSIONS[A]:
        session = {
            "weekday": weekday,
            "start": start,
            "end": end,
            "kind": kind,
            "clinic_type": "school_refusal",
        }
        calendar_ops.add_session(ctx, A, {**session, "slot_minutes": 30 if kind == "intake" else 45})
    calendar_ops.materialise(ctx, days=14)
    near = {"home_district": "xicheng", "max_travel_km": 3}
    service.handlers["assessment.triaged"](triaged("c-a", near))
    entry = db.waitlist.find_one({"_id": "c-a"})
    assert entry["eligible_hospitals"] == [A] and entry["state"] == "offered", entry
    offer = db.offers.find_one({"case_id": "c-a"})
    assert offer["hospital_id"] == A
    free = [s["_id"] for s in db.slots.find({"hospital_id": A, "state": "open", "kind": "intake"}).limit(3)]
    appt = booking.book(ctx, "c-b", free[0], by="fixture")
    attended = booking.book(ctx, "c-c", free[1], by="fixture")
    db.appointments.update_one({"_id": attended["_id"]}, {"$set": {"state": "attended"}})
    session = db.sessions.find_one({"hospital_id": A})["_id"]
    spec = next(without_id(h) for h in HOSPITALS if h["id"] == A)
    calls = {
        ("GET", "/v1/hospitals"): Call("/v1/hospitals"),
        ("PUT", "/v1/hospitals/<hospital_id>"): Call(f"/v1/hospitals/{A}", spec),
        ("GET", "/v1/hospitals/<hospital_id>/sessions"): Call(f"/v1/hospitals/{A}/sessions"),
        ("POST", "/v1/hospitals/<hospital_id>/sessions"): Call(
            f"/v1/hospitals/{A}/sessions",
            {"weekday": "wed", "start": "14:00", "end": "15:00", "kind": "intake"},
        ),
        ("DELETE", "/v1/hospitals/<hospital_id>/sessions/<session_id>"): Call(
            f"/v1/hospitals/{A}/sessions/{session}"
        ),
        ("POST", "/v1/hospitals/<hospital_id>/holidays"): Call(
            f"/v1/hospitals/{A}/holidays", {"date": "2025-04-01"}
        ),
        ("POST", "/v1/slots/materialise"): Call("/v1/slots/materialise"),
        ("GET", "/v1/slots"): Call(f"/v1/slots?hospital_id={A}"),
        ("GET", "/v1/waitlist"): Call(f"/v1/waitlist?hospital_id={A}"),
        ("GET", "/v1/waitlist/<case_id>"): Call("/v1/waitlist/c-a"),
        ("POST", "/v1/waitlist/<case_id>/offer"): Call("/v1/waitlist/c-a/offer", {}),
        ("POST", "/v1/allocation/rebalance"): Call("/v1/allocation/rebalance", {"hospital_id": A}),
        ("GET", "/v1/pressure"): Call(f"/v1/pressure?hospital_id={A}"),
        ("POST", "/v1/appointments"): Call("/v1/appointments", {"case_id": "c-a", "slot_id": free[2]}),
        ("GET", "/v1/appointments"): Call(f"/v1/appointments?hospital_id={A}"),
        ("GET", "/v1/appointments/<appointment_id>"): Call(f"/v1/appointments/{appt['_id']}"),
        ("GET", "/v1/appointments/<appointment_id>/fhir"): Call(f"/v1/appointments/{appt['_id']}/fhir"),
        ("POST", "/v1/appointments/<appointment_id>/reschedule"): Call(
            f"/v1/appointments/{appt['_id']}/reschedule", {"slot_id": free[2]}
        ),
        ("POST", "/v1/appointments/<appointment_id>/cancel"): Call(
            f"/v1/appointments/{appt['_id']}/cancel", {"reason": "family_request", "requeue": False}
        ),
        ("POST", "/v1/appointments/<appointment_id>/attendance"): Call(
            f"/v1/appointments/{appt['_id']}/attendance", {"outcome": "attended"}
        ),
        ("POST", "/v1/cases/<case_id>/follow-ups"): Call("/v1/cases/c-c/follow-ups", {"count": 1}),
        ("GET", "/v1/offers"): Call(f"/v1/offers?hospital_id={A}"),
        ("GET", "/v1/offers/<offer_id>/link"): Call(f"/v1/offers/{offer['_id']}/link"),
        **STAFF_PAGES,
    }
    return World(service.app, db, calls)


STAFF_PAGES = {
    ("GET", "/staff/session"): Call("/staff/session"),
    ("GET", "/staff/totp"): Call("/staff/totp"),
    ("POST", "/staff/totp"): Call("/staff/totp", {"secret": "JBSWY3DPEHPK3PXP", "code": "123456"}),
}
"""shared.staff's routes, on every service that mounts the sign-in pages (a token holder has no
account, so the TOTP routes answer 409 to an allowed role: not a refusal)."""


def without_id(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k != "id"}


def triaged(case_id: str, constraints: Mapping[str, Any]) -> Event:
    data = {
        "case_id": case_id,
        "triage_version": 1,
        "band": "P2",
        "score": 50,
        "target_days": 30,
        "referred_on": "2025-03-01",
        "rule_version": "r1",
        "factors": [],
        "clinic_type": "school_refusal",
        "school_intervention": False,
        "overridden": False,
        "constraints": dict(constraints),
    }
    return Event(event_type("assessment.triaged"), "/services/assessment", case_id, data)


def referral_world() -> World:
    settings = Settings(service="referral", extra={"REFERRAL_RATE_LIMIT_PER_MINUTE": "100000"})
    db = mongomock.MongoClient(tz_aware=True)["referral"]
    service = build_referral(settings, db=db, clock=lambda: NOW)
    issued = create_school_key(db, "school-rp", "Route Policy School", now=NOW)
    created = service.app.test_client().post(
        "/v1/referrals", json=valid_referral(), headers={"Authorization": f"Bearer {issued.key}"}
    )
    assert created.status_code == 201, created.json
    case_id = created.json["case_id"]  # the family named A (bch), without share_with_hospitals consent
    question = {"question": "Mondays are hard; refer?", "age_band": "12-14", "hospital": A}
    asked = service.app.test_client().post(
        "/v1/advice", json=question, headers={"Authorization": f"Bearer {issued.key}"}
    )
    assert asked.status_code == 201, asked.json
    advice = f"/clinical/v1/advice/{asked.json['advice_id']}"
    calls = {
        ("GET", "/clinical/v1/advice"): Call(f"/clinical/v1/advice?hospital={A}"),
        ("GET", "/clinical/v1/advice/<advice_id>"): Call(advice),
        ("POST", "/clinical/v1/advice/<advice_id>/answer"): Call(
            f"{advice}/answer", {"answer": "Try a mentor."}
        ),
        ("GET", "/internal/v1/cases/<case_id>/contacts"): Call(f"/internal/v1/cases/{case_id}/contacts"),
        ("GET", "/clinical/v1/cases/<case_id>/school-note"): Call(
            f"/clinical/v1/cases/{case_id}/school-note"
        ),
        ("GET", "/clinical/v1/cases/<case_id>/access-log"): Call(f"/clinical/v1/cases/{case_id}/access-log"),
        ("POST", "/admin/v1/school-keys"): Call(
            "/admin/v1/school-keys", {"school_id": "school-new", "name": "New"}
        ),
        ("GET", "/admin/v1/school-keys"): Call("/admin/v1/school-keys"),
        ("DELETE", "/admin/v1/school-keys/<key_id>"): Call(f"/admin/v1/school-keys/{issued.key_id}"),
    }
    return World(service.app, db, calls)


def assessment_world() -> World:
    shipped = sorted(path.stem for path in INSTRUMENTS.glob("*.json"))
    extra = {"ASSESSMENT_LICENSED_INSTRUMENTS": ",".join(shipped), "ASSESSMENT_ONCALL": json.dumps(ONCALL)}
    settings = Settings(service="assessment", extra=extra)
    db = mongomock.MongoClient(tz_aware=True)["assessment"]
    service = build_assessment(settings, db=db, clock=lambda: NOW)
    data = {
        "case_id": "case-rp",
        "school_id": "school-rp",
        "referred_on": "2025-03-10",
        "age_band": "12-14",
        "grade": 7,
        "district": "haidian",
        "concerns": [
            "anxiety",
            "rp_unlisted_concern",
        ],  # a code the rules do not know: a review (its FHIR Task)
        "risk_flags": ["self_harm"],  # escalates: a task for A's on-call, and an override to co-sign
        "consent_scopes": ["questionnaires", "referral"],  # questionnaire links need this consent
        "absence": {"start": "2025-02-17", "days_missed_last_20": 12, "partial_days_last_20": 3},
        "preferences": {"hospitals": [A], "home_district": "haidian", "language": "zh-CN"},
    }
    service.handlers["referral.submitted"](
        Event(event_type("referral.submitted"), "/services/referral", "case-rp", data)
    )
    escalated = [
        e
        for change in db.case_changes.find({"case_id": "case-rp"})
        for e in change.get("outbox", [])
        if e["type"] == event_type("assessment.escalated")
    ]
    assert len(escalated) == 1, escalated
    tasks = service.handlers["assessment.escalated"].__self__
    service.handlers["assessment.escalated"](Event.from_dict(escalated[0]))
    task = db.tasks.find_one({"case_id": "case-rp"})
    assert task["owner"] == "rp-clinician", task
    # referral's contacts route is HTTP; the escalation tests' fake stands in for it
    tasks.contacts = lambda case_id: {"case_id": case_id, "guardians": [{"phone": "+86 138 0000 0000"}]}
    booked = {
        "case_id": "case-rp",
        "appointment_id": "appt-rp",
        "hospital_id": A,
        "start": (NOW + timedelta(days=7)).isoformat(),
        "kind": "intake",
    }
    service.handlers["appointment.booked"](
        Event(event_type("appointment.booked"), "/services/scheduling", "case-rp", booked)
    )
    invitation = db.questionnaires.find_one({"case_id": "case-rp", "addressed_to": "guardian"})["_id"]
    client = service.app.test_client()
    lowering = {"band": "P3", "reason": "seen in clinic today, no current risk, family engaged well"}
    pending = client.post(
        "/v1/cases/case-rp/triage/override", json=lowering, headers=token("clinician", ("*",), "dr-requester")
    )
    assert pending.status_code == 202, pending.json  # held for a second clinician: the cosign call's world
    rule_version = db.cases.find_one({"_id": "case-rp"})["triage"][-1]["rule_version"]
    instrument = json.loads((INSTRUMENTS / "gad-7.json").read_text())
    lowest = {name: options[0]["value"] for name, options in instrument["scales"].items()}
    answers = {
        "informant": instrument["informants"][0],
        "responses": {item["id"]: lowest[item["scale"]] for item in instrument["items"]},
    }
    case = "/v1/cases/case-rp"
    scored = client.post(
        f"{case}/instruments/{instrument['id']}/responses", json=answers, headers=token("clinician", ("*",))
    )
    assert scored.status_code == 201, scored.json  # administration 1: the FHIR exports' record
    calls = {
        ("GET", "/v1/triage/queue"): Call("/v1/triage/queue"),
        # case-rp was accepted automatically: a decision is refused (409), never a 5xx
        ("POST", "/v1/cases/<case_id>/review"): Call(f"{case}/review", {"decision": "accept"}),
        ("GET", "/v1/cases/<case_id>/review"): Call(f"{case}/review"),
        ("GET", "/v1/reviews"): Call(f"/v1/reviews?hospital={A}"),
        ("GET", "/v1/cases/<case_id>/triage"): Call(f"{case}/triage"),
        ("POST", "/v1/cases/<case_id>/triage/override"): Call(
            f"{case}/triage/override", {"band": "P1", "reason": "clinical judgement"}
        ),
        ("GET", "/v1/instruments"): Call("/v1/instruments"),
        ("GET", "/v1/instruments/<instrument_id>"): Call(f"/v1/instruments/{instrument['id']}"),
        ("POST", "/v1/cases/<case_id>/instruments/<instrument_id>/responses"): Call(
            f"{case}/instruments/{instrument['id']}/responses", answers
        ),
        ("GET", "/v1/cases/<case_id>/instruments/<instrument_id>/trajectory"): Call(
            f"{case}/instruments/{instrument['id']}/trajectory"
        ),
        ("GET", "/v1/cases/<case_id>/instruments/<instrument_id>/responses/<n>/fhir"): Call(
            f"{case}/instruments/{instrument['id']}/responses/1/fhir"
        ),
        ("GET", "/v1/cases/<case_id>/instruments/<instrument_id>/observations/fhir"): Call(
            f"{case}/instruments/{instrument['id']}/observations/fhir"
        ),
        ("GET", "/v1/cases/<case_id>/review/fhir"): Call(f"{case}/review/fhir"),
        ("POST", "/v1/cases/<case_id>/return-plan"): Call(
            f"{case}/return-plan", {"weeks": [{"week_start": "2025-03-17", "target_hours_per_day": 2}]}
        ),
        ("GET", "/v1/cases/<case_id>/return-plan"): Call(f"{case}/return-plan"),
        ("GET", "/v1/questionnaires/<invitation_id>/link"): Call(f"/v1/questionnaires/{invitation}/link"),
        ("POST", "/v1/cases/<case_id>/triage/override/cosign"): Call(
            f"{case}/triage/override/cosign", {"note": "agreed after review"}
        ),
        ("GET", "/v1/triage/rules/<version>"): Call(f"/v1/triage/rules/{rule_version}"),
        ("GET", "/v1/triage/reviews"): Call("/v1/triage/reviews"),
        ("GET", "/v1/tasks"): Call("/v1/tasks?state=requested"),
        ("GET", "/v1/tasks/<task_id>"): Call(f"/v1/tasks/{task['_id']}"),
        ("GET", "/v1/tasks/<task_id>/history"): Call(f"/v1/tasks/{task['_id']}/history"),
        ("POST", "/v1/tasks/<task_id>/acknowledge"): Call(f"/v1/tasks/{task['_id']}/acknowledge"),
        ("POST", "/v1/tasks/<task_id>/complete"): Call(
            f"/v1/tasks/{task['_id']}/complete", {"outcome": "family_reached_no_acute_risk"}
        ),
        ("GET", "/v1/cases/<case_id>/contacts"): Call(f"{case}/contacts?reason=escalation+call+to+family"),
        ("GET", "/v1/cases/<case_id>/access-log"): Call(f"{case}/access-log"),
        ("POST", "/v1/cases/<case_id>/questionnaires"): Call(
            f"{case}/questionnaires", {"addressed_to": "young_person"}
        ),
        **STAFF_PAGES,
    }
    return World(service.app, db, calls)


def notification_world() -> World:
    db = mongomock.MongoClient(tz_aware=True)["notification"]
    service = build_notification(
        Settings(service="notification"),
        db=db,
        clock=lambda: NOW,
        channels={"email": RecordingChannel(), "sms": RecordingChannel(), "webhook": RecordingChannel()},
        directory=MemoryContactDirectory(default=demo_contacts),
        offer_links=MemoryOfferLinks({}),
    )
    service.handlers["referral.submitted"](
        Event(event_type("referral.submitted"), "/services/referral", "case-rp", {"case_id": "case-rp"})
    )
    delivery = db.deliveries.find_one({})["_id"]
    calls = {
        ("GET", "/v1/deliveries"): Call("/v1/deliveries"),
        ("GET", "/v1/deliveries/<delivery_id>"): Call(f"/v1/deliveries/{delivery}"),
        ("POST", "/v1/deliveries/<delivery_id>/replay"): Call(f"/v1/deliveries/{delivery}/replay"),
        ("GET", "/v1/reminders"): Call("/v1/reminders?case_id=case-rp"),
    }
    return World(service.app, db, calls)


def console_world() -> World:
    db = mongomock.MongoClient(tz_aware=True)["waymark_auth"]
    app = build_console(
        Settings(service="console"), urls={"assessment": "http://127.0.0.1:9"}, bus=MemoryBus(), auth_db=db
    )
    calls = {
        ("GET", "/api/overview"): Call("/api/overview"),
        ("GET", "/api/dead-letters/<group>"): Call("/api/dead-letters/assessment"),
        ("POST", "/api/dead-letters/<group>/replay"): Call("/api/dead-letters/assessment/replay"),
        ("POST", "/api/staff-tokens/revocations"): Call(
            "/api/staff-tokens/revocations", {"token_id": "abcdefgh1234"}
        ),
        **STAFF_PAGES,
    }
    return World(app, db, calls)


WORLDS: Mapping[str, Callable[[], World]] = {
    "scheduling": scheduling_world,
    "referral": referral_world,
    "assessment": assessment_world,
    "notification": notification_world,
    "console": console_world,
}


def routes(app: Any) -> list[tuple[str, str]]:
    return sorted(
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    )


def policies(app: Any) -> Mapping[tuple[str, str], Policy]:
    return app.extensions["waymark_policies"]


@pytest.fixture(scope="module")
def worlds() -> dict[str, World]:
    return {name: make() for name, make in WORLDS.items()}


@pytest.mark.parametrize("service", WORLDS)
def test_every_route_has_a_policy_and_every_staff_route_a_test_call(worlds, service):
    world = worlds[service]
    missing = [r for r in routes(world.app) if policy_for(policies(world.app), *r) is None]
    assert not missing, f"routes without an access policy: {missing}"
    staff_routes = {r for r in routes(world.app) if policy_for(policies(world.app), *r).kind == STAFF}
    assert staff_routes == set(world.calls), "every staff route needs a call in this test's world"
    stale = set(policies(world.app)) - set(routes(world.app))
    assert not stale, f"policies for routes that no longer exist: {stale}"


def allowed(policy: Policy, role: str, hospitals: tuple[str, ...]) -> bool:
    if role not in policy.roles:
        return False
    if policy.scope == REGION:
        return "*" in hospitals
    if policy.scope == HOSPITAL:
        return "*" in hospitals or A in hospitals
    assert policy.scope == ANY
    return True


def token(role: str, hospitals: tuple[str, ...], subject: str | None = None) -> dict[str, str]:
    issued = StaffTokens(Settings.staff_token_secret).issue(subject or f"rp-{role}", role, hospitals)
    return {"Authorization": f"Bearer {issued}"}


def snapshot(db: Any) -> dict[str, list[dict[str, Any]]]:
    return {name: list(db[name].find()) for name in db.list_collection_names()}


def restore(db: Any, saved: dict[str, list[dict[str, Any]]]) -> None:
    for name in db.list_collection_names():
        db[name].delete_many({})
        if saved.get(name):
            db[name].insert_many([dict(d) for d in saved[name]])


CASES = [(service, role, scope) for service in WORLDS for role in STAFF_ROLES for scope in SCOPES]


@pytest.mark.parametrize(("service", "role", "scope"), CASES)
def test_each_staff_route_allows_exactly_what_its_policy_says(worlds, service, role, scope):
    world = worlds[service]
    client = world.app.test_client()
    hospitals = SCOPES[scope]
    wrong = []
    for (method, rule), call in sorted(world.calls.items()):
        policy = policy_for(policies(world.app), method, rule)
        expected = allowed(policy, role, hospitals)
        saved = snapshot(world.db) if method != "GET" and expected else None  # denied calls change nothing
        response = client.open(call.path, method=method, json=call.json, headers=token(role, hospitals))
        if saved is not None:
            restore(world.db, saved)
        status = response.status_code
        if (method, rule) in FILTERED and role in policy.roles:
            items = response.json.get("items") if status == 200 else None
            ok = items is not None and bool(items) == expected  # own/region: the item; other: none
        elif expected:
            ok = status < 500 and status not in (401, 403, 404)
        else:
            ok = status == 403 or (status == 404 and (method, rule) in HIDDEN)
        if not ok:
            wrong.append(f"{method} {rule}: {status} {response.get_data(as_text=True)[:160]}")
    assert not wrong, f"{role} scoped {hospitals}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("service", WORLDS)
def test_no_staff_route_answers_without_a_token(worlds, service):
    world = worlds[service]
    client = world.app.test_client()
    for (method, _rule), call in sorted(world.calls.items()):
        assert client.open(call.path, method=method, json=call.json).status_code == 401, call.path


def test_a_staff_token_is_not_a_school_key(worlds):
    client = worlds["referral"].app.test_client()
    assert client.get("/v1/referrals", headers=token("operator", ("*",))).status_code == 401
