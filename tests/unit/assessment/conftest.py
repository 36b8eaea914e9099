from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import mongomock
import pytest

from services.assessment.bootstrap import build
from shared.auth import StaffTokens
from shared.events import Event, event_type
from shared.settings import ConsumerPolicy, Settings

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)  # a Monday
SECRET = "unit-test-secret-for-assessment"


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def referral_data(case_id: str = "case-1", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "case_id": case_id,
        "school_id": "school-9",
        "referred_on": "2025-03-10",
        "age_band": "12-14",
        "grade": 7,
        "district": "north",
        "concerns": [],
        "risk_flags": [],
        "consent_scopes": ["questionnaires", "referral", "share_with_hospitals"],
        "absence": {"start": "2025-03-10", "days_missed_last_20": 0, "partial_days_last_20": 0},
        "return_attempts": 0,
        "impairments": [],
        "exam_year": False,
        "transition_year": False,
        "preferences": {
            "hospitals": ["h-east", "h-west"],
            "max_travel_km": 40,
            "home_district": "north",
            "weekdays": ["mon", "wed"],
            "language": "zh-CN",
        },
    }
    data.update(changes)
    return data


def event(name: str, subject: str, data: dict[str, Any], source: str = "/services/referral") -> Event:
    return Event(event_type(name), source, subject, data)


def submitted(case_id: str = "case-1", **changes: Any) -> Event:
    return event("referral.submitted", case_id, referral_data(case_id, **changes))


def amended(case_id: str = "case-1", **changes: Any) -> Event:
    return event(
        "referral.amended", case_id, {**referral_data(case_id, **changes), "amended_fields": list(changes)}
    )


def outbox(db, name: str | None = None) -> list[dict[str, Any]]:
    """Events written to the outbox (case changes), per case in revision order, by short name."""
    changes = sorted(
        db.case_changes.find({}, {"outbox": 1, "case_id": 1, "rev": 1}),
        key=lambda c: (c["case_id"], c["rev"]),
    )
    found = [e for change in changes for e in change.get("outbox", [])]
    return [e for e in found if name is None or e["type"] == event_type(name)]


@pytest.fixture
def settings() -> Settings:
    return Settings(
        service="assessment",
        staff_token_secret=SECRET,
        consumer=ConsumerPolicy(max_attempts=2, backoff_initial_s=0.001, backoff_max_s=0.002),
        relay_interval_s=0.01,
        outbox_grace_s=0.05,
    )


@pytest.fixture
def db():
    return mongomock.MongoClient(tz_aware=True)["assessment_unit"]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(settings, db, clock):
    return build(settings, db=db, clock=clock)


@pytest.fixture
def handle(service):
    def _handle(e: Event) -> None:
        service.handlers[e.name](e)

    return _handle


@pytest.fixture
def client(service):
    return service.app.test_client()


@pytest.fixture
def clinician() -> dict[str, str]:
    token = StaffTokens(SECRET).issue("dr-li", "clinician")
    return {"Authorization": f"Bearer {token}"}
