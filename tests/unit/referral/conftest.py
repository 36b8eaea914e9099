from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import mongomock
import pytest

from services.referral.bootstrap import build
from services.referral.keys import create_school_key
from shared.auth import StaffTokens
from shared.events import Event, event_type
from shared.settings import Settings

NOW = datetime(2025, 3, 12, 9, 0, tzinfo=UTC)

VALID = {
    "student": {"name": "Lin Xiaoming", "date_of_birth": "2012-05-03", "sex": "male", "grade": 7},
    "guardians": [
        {
            "relationship": "mother",
            "name": "Wang Fang",
            "phone": "+8613800138000",
            "email": "wang.fang@example.cn",
            "language": "zh-CN",
            "consent": {"given_at": "2025-03-10T08:00:00+08:00", "scope": ["referral", "contact_by_sms"]},
        }
    ],
    "absence": {"start": "2025-02-17", "days_missed_last_20": 12, "partial_days_last_20": 3},
    "concerns": ["anxiety", "somatic_complaints"],
    "risk_indicators": {"self_harm": False, "suicidal_talk": False, "not_eating": True},
    "school_actions": {"tried": ["reduced_timetable", "mentor"], "details": "Weekly talks with Ms Chen Jing"},
    "return_attempts": [{"started_on": "2025-02-24", "lasted_days": 2}],
    "preferences": {
        "hospitals": ["bch", "fudan"],
        "max_travel_km": 30,
        "home_district": "haidian",
        "weekdays": ["mon", "wed"],
        "language": "zh-CN",
    },
    "note": "Headaches before maths lessons",
}
PERSONAL = [
    "Lin Xiaoming",
    "2012-05-03",
    "Wang Fang",
    "+8613800138000",
    "wang.fang@example.cn",
    "Ms Chen Jing",
]


def referral(**changes) -> dict:
    body = copy.deepcopy(VALID)
    body.update(changes)
    return body


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db():
    return mongomock.MongoClient(tz_aware=True)["referral_unit"]


@pytest.fixture
def settings() -> Settings:
    return Settings(
        service="referral",
        relay_interval_s=0.01,
        outbox_grace_s=0.05,
        extra={"REFERRAL_RATE_LIMIT_PER_MINUTE": "1000"},
    )


@pytest.fixture
def service(settings, db, clock):
    return build(settings, db=db, clock=clock)


@pytest.fixture
def client(service):
    return service.app.test_client()


@pytest.fixture
def school_a(db) -> dict:
    return {"Authorization": f"Bearer {create_school_key(db, 'school-a', 'Haidian No. 1 Middle').key}"}


@pytest.fixture
def school_b(db) -> dict:
    return {"Authorization": f"Bearer {create_school_key(db, 'school-b', 'Xicheng Primary').key}"}


@pytest.fixture
def staff(settings) -> StaffTokens:
    return StaffTokens(settings.staff_token_secret)


@pytest.fixture
def submit(client, school_a):
    def _submit(body: dict | None = None, headers: dict | None = None) -> str:
        response = client.post("/v1/referrals", json=body or referral(), headers=headers or school_a)
        assert response.status_code == 201, response.json
        return response.json["case_id"]

    return _submit


def outbox_events(db, name: str | None = None) -> list[dict]:
    """Events the service wrote: a new case carries its own, every later change its version's claim."""
    found = [e for col in (db.cases, db.case_versions) for doc in col.find() for e in doc.get("outbox", [])]
    return [e for e in found if name is None or e["type"] == event_type(name)]


def incoming(name: str, case_id: str, source: str = "/services/scheduling", **data) -> Event:
    return Event(event_type(name), source, case_id, {"case_id": case_id, **data})
