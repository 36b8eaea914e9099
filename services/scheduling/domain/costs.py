"""The price of giving a slot to a family, shared by the optimiser, its brute-force check and the bench.

Breaches come first: a breach costs far more than any wait or journey. Then waiting
is weighted by band and by how long the family has already waited (ageing), so that
inside a band the first to come gets the earlier slot, and urgent cases weigh most.
Travel is the last term. Leaving a family unserved costs what it would cost them to
wait past the horizon plus the longest journey, so serving anyone is always better
than leaving a feasible slot empty; the optimiser only chooses *whom* to serve.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

BAND_WEIGHT = {"P1": 4.0, "P2": 2.0, "P3": 1.0}
URGENT_FACTOR = 3.0
MAX_JOURNEY_KM = 200.0


@dataclass(frozen=True)
class Weights:
    breach: float = 100_000.0
    wait_per_day: float = 1.0
    travel_per_km: float = 0.5
    ageing_days: float = 30.0
    """Each ``ageing_days`` already waited adds one band weight, up to ``max_ageing`` extra."""
    max_ageing: float = 2.0


def wait_weight(band: str, urgent: bool, referred_on: date, today: date, w: Weights) -> float:
    age = max(0, (today - referred_on).days)
    ageing = 1.0 + min(w.max_ageing, age / w.ageing_days)
    return BAND_WEIGHT.get(band, 1.0) * ageing * (URGENT_FACTOR if urgent else 1.0) * w.wait_per_day


def pair_cost(
    weight: float, target_date: date, slot_day: date, today: date, km: float | None, w: Weights
) -> float:
    wait_days = max(0, (slot_day - today).days)
    breach = w.breach if slot_day > target_date else 0.0
    return breach + weight * wait_days + w.travel_per_km * (km or 0.0)


def unserved_cost(weight: float, target_date: date, horizon_end: date, today: date, w: Weights) -> float:
    """Cost of no slot in the horizon: the wait runs past it, and a target inside it is breached."""
    beyond = (horizon_end - today).days + 7
    breach = w.breach if target_date <= horizon_end else 0.0
    return breach + weight * beyond + w.travel_per_km * MAX_JOURNEY_KM
