"""A realistic demo region for ``waymark seed`` and the demo: six hospitals, their sessions and holidays.

Optionally adds synthetic waiting families by feeding ``assessment.triaged`` events
through the real handler, so the demo's waitlist went through the same code as
production's (ids only: no personal data exists in this service anyway).
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from pymongo.database import Database

from services.scheduling import calendar_ops, waitlist
from services.scheduling.config import Clock, Config
from services.scheduling.context import Scheduling
from services.scheduling.domain.geography import DISTRICT_CENTROIDS
from services.scheduling.repository import INDEXES
from shared import store
from shared.events import Event, event_type

HOSPITALS: list[dict[str, Any]] = [
    {
        "id": "bch",
        "name": "Children's Hospital (Xicheng)",
        "district": "xicheng",
        "clinic_types": ["school_refusal", "learning_difficulty"],
        "languages": ["zh", "en"],
    },
    {
        "id": "hdm",
        "name": "Haidian Maternal & Child Hospital",
        "district": "haidian",
        "clinic_types": ["school_refusal"],
        "languages": ["zh"],
    },
    {
        "id": "cyc",
        "name": "Chaoyang Children's Centre",
        "district": "chaoyang",
        "clinic_types": ["school_refusal", "learning_difficulty"],
        "languages": ["zh", "en"],
    },
    {
        "id": "ftp",
        "name": "Fengtai Paediatric Hospital",
        "district": "fengtai",
        "clinic_types": ["school_refusal"],
        "languages": ["zh"],
    },
    {
        "id": "tzh",
        "name": "Tongzhou District Hospital",
        "district": "tongzhou",
        "clinic_types": ["school_refusal"],
        "languages": ["zh"],
    },
    {
        "id": "cpm",
        "name": "Changping Mental Health Centre",
        "district": "changping",
        "clinic_types": ["school_refusal", "learning_difficulty"],
        "languages": ["zh"],
    },
]

# (weekday, start, end, kind) per hospital: big hospitals run more intake sessions.
SESSIONS: dict[str, list[tuple[str, str, str, str]]] = {
    "bch": [
        ("mon", "08:30", "11:30", "intake"),
        ("wed", "13:30", "16:30", "intake"),
        ("tue", "08:30", "11:30", "follow_up"),
        ("thu", "13:30", "17:00", "follow_up"),
    ],
    "hdm": [("tue", "09:00", "12:00", "intake"), ("fri", "09:00", "12:00", "follow_up")],
    "cyc": [
        ("mon", "13:30", "16:30", "intake"),
        ("thu", "09:00", "12:00", "intake"),
        ("wed", "09:00", "12:00", "follow_up"),
    ],
    "ftp": [("wed", "09:00", "11:00", "intake"), ("fri", "13:30", "16:30", "follow_up")],
    "tzh": [("thu", "13:30", "15:30", "intake"), ("mon", "09:00", "11:15", "follow_up")],
    "cpm": [("fri", "09:00", "12:00", "intake"), ("tue", "13:30", "16:30", "follow_up")],
}

BAND_TARGET_DAYS = {"P1": 14, "P2": 30, "P3": 105}


def seed_region(
    db: Database, clock: Clock, *, config: Config | None = None, families: int = 0, rng_seed: int = 7
) -> dict[str, int]:
    """Create (or refresh) the demo region; idempotent for hospitals, sessions, holidays and slots."""
    store.ensure_indexes(db, INDEXES)
    ctx = Scheduling(db=db, config=config or Config(), clock=clock)
    for spec in HOSPITALS:
        lat, lon = DISTRICT_CENTROIDS[spec["district"]]
        data = {k: v for k, v in spec.items() if k != "id"}
        calendar_ops.put_hospital(ctx, spec["id"], {**data, "lat": lat, "lon": lon})
        for weekday, start, end, kind in SESSIONS[spec["id"]]:
            key = f"{spec['id']}-{weekday}-{start}-{kind}"
            db.sessions.update_one(
                {"_id": key},
                {
                    "$setOnInsert": {
                        "hospital_id": spec["id"],
                        "weekday": weekday,
                        "start": start,
                        "end": end,
                        "kind": kind,
                        "slot_minutes": 30 if kind == "intake" else 45,
                        "clinic_type": "school_refusal",
                        "active": True,
                        "created_at": clock(),
                    }
                },
                upsert=True,
            )
    today = ctx.today()
    for day in _public_holidays(today):
        db.holidays.update_one(
            {"_id": f"*:{day}"},
            {"$setOnInsert": {"hospital_id": "*", "date": day, "reason": "public holiday"}},
            upsert=True,
        )
    slots = calendar_ops.materialise(ctx)
    _families(ctx, families, random.Random(rng_seed))
    return {"hospitals": len(HOSPITALS), "slots_created": slots, "families": families}


def _public_holidays(today: date) -> list[str]:
    """A few fixed-date closures inside the horizon (a demo stand-in for the official calendar)."""
    fixed = [(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)]
    years = (today.year, today.year + 1)
    return [date(y, m, d).isoformat() for y in years for m, d in fixed if today <= date(y, m, d)]


def _families(ctx: Scheduling, count: int, rng: random.Random) -> None:
    districts = sorted(DISTRICT_CENTROIDS)
    for n in range(count):
        band = rng.choices(["P1", "P2", "P3"], weights=[1, 3, 6])[0]
        referred = ctx.today() - timedelta(days=rng.randint(0, 120))
        constraints: dict[str, Any] = {
            "home_district": rng.choice(districts),
            "max_travel_km": rng.choice([None, 20, 30, 50]),
        }
        if rng.random() < 0.2:
            constraints["weekdays"] = rng.sample(["mon", "tue", "wed", "thu", "fri"], 2)
        data = {
            "case_id": f"demo-{n:05d}",
            "triage_version": 1,
            "band": band,
            "score": rng.randint(10, 95),
            "target_days": BAND_TARGET_DAYS[band],
            "referred_on": referred.isoformat(),
            "clinic_type": "school_refusal",
            "constraints": constraints,
        }
        waitlist.on_triaged(ctx, Event(event_type("assessment.triaged"), "/seed", data["case_id"], data))
