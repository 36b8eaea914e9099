from __future__ import annotations

from datetime import UTC, datetime, timedelta

import mongomock
import pytest

from services.scheduling import calendar_ops
from services.scheduling.bootstrap import build
from services.scheduling.config import Config
from services.scheduling.domain.geography import DISTRICT_CENTROIDS
from services.scheduling.seed import seed_region
from shared.auth import StaffTokens
from shared.events import Event, event_type
from shared.settings import Settings

SECRET = "unit-test-secret-0123456789-abcdefghij"
START = datetime(2025, 3, 3, 0, 0, tzinfo=UTC)  # Monday 08:00 in Asia/Shanghai


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db():
    return mongomock.MongoClient(tz_aware=True)["scheduling_unit"]


@pytest.fixture
def service(db, clock):
    settings = Settings(service="scheduling", staff_token_secret=SECRET)
    return build(settings, db=db, clock=clock, config=Config(offer_secret="offer-secret"), run_duties=False)


@pytest.fixture
def ctx(service):
    return service.app.extensions["scheduling"]


@pytest.fixture
def region(service, db, clock):
    return seed_region(db, clock, config=Config(offer_secret="offer-secret"))


@pytest.fixture
def client(service):
    return service.app.test_client()


def auth(role: str = "scheduler", hospitals: tuple[str, ...] = ("*",)) -> dict[str, str]:
    return {"Authorization": f"Bearer {StaffTokens(SECRET).issue('staff-1', role, hospitals)}"}


def triaged(
    case_id: str, band: str = "P2", referred_on: str = "2025-02-20", version: int = 1, **extra
) -> Event:
    constraints = extra.pop("constraints", {"home_district": "xicheng"})
    data = {
        "case_id": case_id,
        "triage_version": version,
        "band": band,
        "score": 50,
        "target_days": {"P1": 14, "P2": 30, "P3": 105}[band],
        "referred_on": referred_on,
        "rule_version": "r1",
        "factors": [],
        "clinic_type": "school_refusal",
        "school_intervention": False,
        "overridden": False,
        "constraints": constraints,
        **extra,
    }
    return Event(event_type("assessment.triaged"), "/services/assessment", case_id, data)


OUTBOX_COLLECTIONS = ("waitlist", "offers", "appointments", "pressure")


def emitted(db, name: str | None = None) -> list[dict]:
    """Events written to the outboxes (not yet relayed), oldest document first."""
    found = []
    for collection in OUTBOX_COLLECTIONS:
        for doc in db[collection].find({"outbox.0": {"$exists": True}}):
            found.extend(doc["outbox"])
    wanted = event_type(name) if name else None
    return [e for e in found if wanted is None or e["type"] == wanted]


@pytest.fixture
def small(ctx):
    """One hospital with scarce capacity: next week's two Monday intake slots (and Tuesday follow-ups)."""
    lat, lon = DISTRICT_CENTROIDS["xicheng"]
    calendar_ops.put_hospital(
        ctx,
        "a",
        {
            "name": "A",
            "district": "xicheng",
            "lat": lat,
            "lon": lon,
            "clinic_types": ["school_refusal"],
            "languages": ["zh"],
        },
    )
    calendar_ops.add_session(
        ctx,
        "a",
        {
            "weekday": "mon",
            "start": "09:00",
            "end": "10:00",
            "slot_minutes": 30,
            "kind": "intake",
            "clinic_type": "school_refusal",
        },
    )
    calendar_ops.add_session(
        ctx,
        "a",
        {
            "weekday": "tue",
            "start": "09:00",
            "end": "10:30",
            "slot_minutes": 45,
            "kind": "follow_up",
            "clinic_type": "school_refusal",
        },
    )
    calendar_ops.materialise(ctx, days=7)
    return ctx
