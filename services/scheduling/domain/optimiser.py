"""Network rebalancing, exact at slot level: a min-cost assignment of waiting families to open slots.

Rows are entries; columns are the open slots plus one private "unserved" column per
entry, so a full matching always exists and slots may stay empty. Only feasible
(entry, slot) pairs become edges, which keeps the graph sparse; scipy's LAPJVsp
(``min_weight_full_bipartite_matching``) then finds the optimum. Every cost is
shifted by +1 because the solver treats a zero weight as "no edge"; a constant
per row changes no optimum. Memory grows with the number of feasible pairs, so
this is the tool for one region's near-term slots (thousands of entries); the
bucketed formulation in :mod:`bulk` is the one that scales to millions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from services.scheduling.domain.costs import Weights, pair_cost, unserved_cost, wait_weight
from services.scheduling.domain.geography import travel_km
from services.scheduling.domain.matching import eligible_hospitals
from services.scheduling.domain.model import Entry, Hospital, Slot


@dataclass(frozen=True)
class Assignment:
    case_id: str
    slot_id: str
    hospital_id: str
    slot_day: date
    cost: float
    breach: bool
    travel_km: float | None


@dataclass
class Plan:
    assignments: list[Assignment] = field(default_factory=list)
    unserved: list[str] = field(default_factory=list)
    objective: float = 0.0
    breaches: int = 0


def _edges(
    entries: Sequence[Entry], slots: Sequence[Slot], hospitals: Sequence[Hospital], today: date, w: Weights
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, costs, weights) of every feasible pair, vectorised per slot group."""
    by_group: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for j, slot in enumerate(slots):
        by_group[(slot.hospital_id, slot.clinic_type, slot.weekday)].append(j)
    groups: dict[str, list[tuple[str, str, np.ndarray]]] = defaultdict(list)
    for (hospital_id, clinic, weekday), idx in by_group.items():
        groups[hospital_id].append((clinic, weekday, np.array(idx, dtype=np.int64)))
    days = np.array([(s.day - today).days for s in slots], dtype=np.float64)
    ordinals = np.array([s.day.toordinal() for s in slots], dtype=np.int64)
    location = {h.id: h.location for h in hospitals}
    rows, cols, costs = [], [], []
    weights = np.empty(len(entries))
    for i, entry in enumerate(entries):
        weight = wait_weight(entry.band, entry.urgent, entry.referred_on, today, w)
        weights[i] = weight
        for hospital_id in eligible_hospitals(entry.constraints, entry.clinic_type, hospitals):
            km = travel_km(entry.constraints.home_district, location[hospital_id]) or 0.0
            for clinic, weekday, idx in groups[hospital_id]:
                if clinic != entry.clinic_type:
                    continue
                if entry.constraints.weekdays and weekday not in entry.constraints.weekdays:
                    continue
                breach = (ordinals[idx] > entry.target_date.toordinal()) * w.breach
                rows.append(np.full(len(idx), i))
                cols.append(idx)
                costs.append(breach + weight * np.maximum(days[idx], 0) + w.travel_per_km * km)
    if not rows:
        empty = np.array([], dtype=np.int64)
        return empty, empty, np.array([]), weights
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(costs), weights


def solve(
    entries: Sequence[Entry],
    slots: Sequence[Slot],
    hospitals: Sequence[Hospital],
    today: date,
    weights: Weights | None = None,
) -> Plan:
    w = weights or Weights()
    if not entries:
        return Plan()
    horizon_end = max((s.day for s in slots), default=today)
    n, m = len(entries), len(slots)
    rows, cols, costs, wait_weights = _edges(entries, slots, hospitals, today, w)
    unserved = np.array(
        [unserved_cost(wait_weights[i], e.target_date, horizon_end, today, w) for i, e in enumerate(entries)]
    )
    graph = csr_matrix(
        (
            np.concatenate([costs, unserved]) + 1.0,
            (np.concatenate([rows, np.arange(n)]), np.concatenate([cols, m + np.arange(n)])),
        ),
        shape=(n, m + n),
    )
    row_ind, col_ind = min_weight_full_bipartite_matching(graph)
    location = {h.id: h.location for h in hospitals}
    plan = Plan()
    for i, j in zip(row_ind.tolist(), col_ind.tolist(), strict=True):
        entry = entries[i]
        if j >= m:
            plan.unserved.append(entry.case_id)
            plan.objective += float(unserved[i])
            plan.breaches += int(entry.target_date <= horizon_end)
            continue
        slot = slots[j]
        km = travel_km(entry.constraints.home_district, location[slot.hospital_id])
        cost = pair_cost(wait_weights[i], entry.target_date, slot.day, today, km, w)
        plan.objective += cost
        plan.breaches += int(slot.day > entry.target_date)
        plan.assignments.append(
            Assignment(
                entry.case_id, slot.id, slot.hospital_id, slot.day, cost, slot.day > entry.target_date, km
            )
        )
    return plan
