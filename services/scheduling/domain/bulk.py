"""Network rebalancing at scale: a bucketed transportation problem instead of slot-level matching.

Slots of one hospital in one week are one *bucket* (capacity = slot count, cost
taken at the bucket's mean day); families with the same constraints signature,
weekday limits, band, urgency, 4-week age band and target week are one *class*.
The min-cost flow from classes to buckets is a transportation LP, integral at its
vertices, solved with HiGHS (scipy.optimize.linprog). Three approximations buy the
scale, and both are stated in docs/services/scheduling.md: costs are per bucket,
not per slot; and only the first ``oversubscribe x capacity`` families in fair order
enter the LP, since with demand above capacity those further back cannot be served
in the horizon; and each class considers only its ``nearest`` acceptable hospitals.
The LP's size is therefore bounded by capacity, not list length;
the list only costs an O(N) sort and grouping. Families are then handed their
class's flows in fair order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

from services.scheduling.domain.costs import BAND_WEIGHT, URGENT_FACTOR, Weights

WEEK = 7
AGE_BAND_DAYS = 28


@dataclass
class Problem:
    """Arrays, one row per family, slot or constraints signature (see the bench for a generator)."""

    band: np.ndarray  # 0 = P1, 1 = P2, 2 = P3
    urgent: np.ndarray  # bool
    age_days: np.ndarray  # days already waited
    target_day: np.ndarray  # target date, days from today
    signature: np.ndarray  # index into sig_eligible / sig_km
    weekday_mask: np.ndarray  # 5-bit mask of acceptable weekdays (31 = any)
    sig_eligible: np.ndarray  # (signatures x hospitals) bool
    sig_km: np.ndarray  # (signatures x hospitals) travel km
    slot_hospital: np.ndarray
    slot_day: np.ndarray  # days from today
    slot_weekday: np.ndarray  # 0 = Monday .. 4 = Friday


@dataclass
class Result:
    served: int
    unserved: int
    breaches: int
    objective: float
    classes: int
    variables: int
    hospital: np.ndarray  # per family: hospital index or -1
    week: np.ndarray  # per family: week index or -1


def _weight(band: np.ndarray, urgent: np.ndarray, age: np.ndarray, w: Weights) -> np.ndarray:
    base = np.array([BAND_WEIGHT["P1"], BAND_WEIGHT["P2"], BAND_WEIGHT["P3"]])[band]
    ageing = 1.0 + np.minimum(w.max_ageing, age / w.ageing_days)
    return base * ageing * np.where(urgent, URGENT_FACTOR, 1.0) * w.wait_per_day


def solve(p: Problem, weights: Weights | None = None, oversubscribe: float = 1.5, nearest: int = 6) -> Result:
    """``nearest``: each class considers only its nearest acceptable hospitals (bounds LP width)."""
    w = weights or Weights()
    n, hospitals = len(p.band), p.sig_eligible.shape[1]
    weeks = int(p.slot_day.max()) // WEEK + 1
    horizon_end = int(p.slot_day.max())
    order = np.lexsort((-p.age_days, p.band, ~p.urgent.astype(bool)))
    kept = order[: int(oversubscribe * len(p.slot_day))]
    cap, mean_day, cap_day = _buckets(p, hospitals, weeks)
    # classes over the kept families
    target_week = np.clip(p.target_day[kept] // WEEK, -1, weeks + 1)
    age_band = np.minimum(p.age_days[kept] // AGE_BAND_DAYS, 6)
    key = np.stack(
        [p.signature[kept], p.weekday_mask[kept], p.band[kept], p.urgent[kept], age_band, target_week]
    )
    uniq, cls = np.unique(key, axis=1, return_inverse=True)
    cls = cls.ravel()
    size = np.bincount(cls).astype(float)
    sig, mask, band, urgent, ages, tweek = uniq
    weight = _weight(band, urgent.astype(bool), ages * AGE_BAND_DAYS + AGE_BAND_DAYS // 2, w)
    target = tweek * WEEK + WEEK - 1
    unserved = (
        np.where(target <= horizon_end, w.breach, 0.0)
        + weight * (horizon_end + WEEK)
        + w.travel_per_km * 200.0
    )
    bits = (mask[:, None] >> np.arange(5)) & 1
    rows, cols, costs, upper = [], [], [], []
    for c in range(len(size)):
        hs = np.flatnonzero(p.sig_eligible[sig[c]])
        hs = hs[np.argsort(p.sig_km[sig[c], hs], kind="stable")[:nearest]]
        b = (hs[:, None] * weeks + np.arange(weeks)).ravel()
        b = b[cap[b] > 0]
        km = p.sig_km[sig[c], b // weeks]
        cost = (
            np.where(mean_day[b] > target[c], w.breach, 0.0) + weight[c] * mean_day[b] + w.travel_per_km * km
        )
        rows.append(np.full(b.size, c))
        cols.append(b)
        costs.append(cost - unserved[c])
        upper.append(np.minimum(size[c], cap_day[b] @ bits[c]))
    row, col = np.concatenate(rows), np.concatenate(cols)
    flow, fun = _transport(np.concatenate(costs), row, col, size, cap, np.concatenate(upper))
    hospital, week = _hand_out(n, kept, cls, len(size), flow, row, col, weeks)
    served = hospital >= 0
    rep = mean_day[np.where(served, hospital * weeks + week, 0)]
    breaches = int(np.sum(served & (rep > p.target_day)) + np.sum(~served & (p.target_day <= horizon_end)))
    objective = float(fun + unserved @ size)
    return Result(
        int(served.sum()), int(n - served.sum()), breaches, objective, len(size), row.size, hospital, week
    )


def _buckets(p: Problem, hospitals: int, weeks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Capacity and mean day per (hospital, week), and capacity per (hospital, week, weekday)."""
    bucket = p.slot_hospital * weeks + p.slot_day // WEEK
    cap = np.bincount(bucket, minlength=hospitals * weeks).astype(float)
    mean_day = np.bincount(bucket, weights=p.slot_day, minlength=hospitals * weeks) / np.maximum(cap, 1)
    cap_day = np.zeros((hospitals * weeks, 5))
    np.add.at(cap_day, (bucket, p.slot_weekday), 1)
    return cap, mean_day, cap_day


def _transport(
    costs: np.ndarray, row: np.ndarray, col: np.ndarray, size: np.ndarray, cap: np.ndarray, upper: np.ndarray
) -> tuple[np.ndarray, float]:
    """min costs.x  s.t. per-class supply, per-bucket capacity, per-edge bounds (HiGHS)."""
    k = row.size
    a_ub = coo_matrix(
        (np.ones(2 * k), (np.concatenate([row, len(size) + col]), np.tile(np.arange(k), 2))),
        shape=(len(size) + len(cap), k),
    ).tocsr()
    res = linprog(
        costs,
        A_ub=a_ub,
        b_ub=np.concatenate([size, cap]),
        bounds=np.stack([np.zeros(k), upper], axis=1),
        method="highs",
    )
    if res.status != 0:
        raise RuntimeError(f"bucketed LP failed: {res.message}")
    return np.rint(res.x).astype(np.int64), float(res.fun)


def _hand_out(
    n: int,
    kept: np.ndarray,
    cls: np.ndarray,
    classes: int,
    flow: np.ndarray,
    row: np.ndarray,
    col: np.ndarray,
    weeks: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Each class's flows go to its members in fair order (``kept`` is already in queue order)."""
    hospital = np.full(n, -1)
    week = np.full(n, -1)
    members = np.split(
        kept[np.argsort(cls, kind="stable")], np.cumsum(np.bincount(cls, minlength=classes))[:-1]
    )
    taken = np.zeros(classes, dtype=np.int64)
    for e in np.flatnonzero(flow):
        c, f = row[e], flow[e]
        chosen = members[c][taken[c] : taken[c] + f]
        taken[c] += f
        hospital[chosen], week[chosen] = col[e] // weeks, col[e] % weeks
    return hospital, week
