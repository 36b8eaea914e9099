"""Scheduling test helpers shared by the unit and integration tiers: families arriving, and the exact counts."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta

from services.scheduling import pressure_counts
from services.scheduling import repository as repo
from services.scheduling.domain.geography import DISTRICT_CENTROIDS, travel_km
from services.scheduling.domain.model import BAND_RANK, BANDS, QUEUED
from shared.events import Event, event_type
from tests.unit.scheduling.conftest import triaged

DISTRICTS = sorted(DISTRICT_CENTROIDS)
ORDERS = {
    "priority": lambda d: (not d.get("urgent"), BAND_RANK[d["band"]], d["referred_on"], -d["score"], d["id"]),
    "breach_date": lambda d: (d["target_date"], BAND_RANK[d["band"]], d["id"]),
    "referred_on": lambda d: (d["referred_on"], d["id"]),
}


def triage(service, rng: random.Random, case: str, version: int = 1) -> None:
    constraints = {"home_district": rng.choice(DISTRICTS)}
    if rng.random() < 0.3:
        constraints["max_travel_km"] = rng.choice([10, 20, 40])
    if rng.random() < 0.3:
        constraints["weekdays"] = rng.sample(["mon", "tue", "wed", "thu", "fri"], 2)
    referred = date(2025, 1, 1) + timedelta(days=rng.randint(0, 60))
    band = rng.choice(BANDS)
    event = triaged(case, band, referred.isoformat(), version, constraints=constraints)
    event.data["score"] = rng.choice([10, 35.5, 50, 80])
    service.handlers["assessment.triaged"](event)


def escalate(service, case: str, hours: int) -> None:
    deadline = f"2025-03-{4 + hours // 24:02d}T{hours % 24:02d}:00:00Z"
    data = {"case_id": case, "reasons": ["self_harm"], "contact_deadline": deadline, "hospitals": []}
    service.handlers["assessment.escalated"](
        Event(event_type("assessment.escalated"), "/services/assessment", case, data)
    )


def withdraw(service, case: str) -> None:
    data = {"case_id": case, "reason": "moved"}
    service.handlers["referral.withdrawn"](
        Event(event_type("referral.withdrawn"), "/services/referral", case, data)
    )


def oracle_counts(db) -> Counter:
    """The counts recomputed from scratch: every queued family at its nearest acceptable hospital."""
    hospitals = {h.id: h for h in repo.hospitals(db)}
    found: Counter = Counter()
    for doc in db.waitlist.find({"state": {"$in": list(QUEUED)}}):
        options = [h for h in doc.get("eligible_hospitals", []) if h in hospitals]
        if not options:
            continue
        district = (doc.get("constraints") or {}).get("home_district")
        home = min(options, key=lambda h: (travel_km(district, hospitals[h].location) or 0.0, h))
        bucket = (
            bool(doc.get("urgent")),
            date.fromisoformat(doc["referred_on"]),
            date.fromisoformat(doc["target_date"]),
        )
        found[(home, doc["band"], bucket)] += 1
    return found


def stored_counts(db) -> Counter:
    hospital_ids = [h.id for h in repo.hospitals(db)]
    found: Counter = Counter()
    for hospital_id, bands in pressure_counts.read(db, hospital_ids, BANDS).items():
        for band, buckets in bands.items():
            for bucket, n in buckets.items():
                found[(hospital_id, band, bucket)] += n
    return found
