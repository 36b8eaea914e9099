"""Time the scheduling optimiser on synthetic regions: 50 hospitals, 10k / 100k / 1M waiting families.

    .venv/bin/python bench/scheduling_optimiser.py [--runs 3] [--sizes 10000,100000,1000000] [--exact 2000,10000]
    .venv/bin/python -m bench [--quick] scheduling_optimiser     (defaults; quick: 1 run, 2k exact, 10k bucketed)

Two formulations: ``exact`` (slot-level min-cost assignment, scipy LAPJVsp) over a
4-week horizon, and ``bucketed`` (transportation LP over hospital-week buckets,
HiGHS) over 12 weeks. Prints the median wall time of ``--runs`` runs per row.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np

from services.scheduling.domain import bulk, optimiser
from services.scheduling.domain.geography import DISTRICT_CENTROIDS, haversine_km
from services.scheduling.domain.model import WEEKDAYS, Constraints, Entry, Hospital, Slot

TODAY = date(2025, 3, 3)
HOSPITALS = 50
TARGET_DAYS = np.array([14, 30, 105])
KM_CAPS = np.array([np.inf, 15.0, 30.0, 50.0])


def region(rng: np.random.Generator, weeks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hospital locations around district centroids, and their intake slots (6 a session, 2-4 sessions a week)."""
    centroids = np.array(list(DISTRICT_CENTROIDS.values()))
    home = rng.integers(0, len(centroids), HOSPITALS)
    loc = centroids[home] + rng.normal(0, 0.03, (HOSPITALS, 2))
    hosp, day, weekday = [], [], []
    for h in range(HOSPITALS):
        for wd in rng.choice(5, rng.integers(2, 5), replace=False):
            for wk in range(weeks):
                d = wk * 7 + int(wd)
                hosp += [h] * 6
                day += [d] * 6
                weekday += [int(wd)] * 6
    return loc, np.array(hosp), np.array(day), np.array(weekday)


def families(rng: np.random.Generator, n: int, loc: np.ndarray) -> dict[str, np.ndarray]:
    band = rng.choice(3, n, p=[0.1, 0.3, 0.6])
    age = np.minimum(rng.exponential(45, n).astype(int), 365)  # most families joined recently
    district = rng.integers(0, len(DISTRICT_CENTROIDS), n)
    km_cap = rng.choice(4, n, p=[0.3, 0.2, 0.3, 0.2])
    allowed = np.where(rng.random(n) < 0.2, rng.integers(0, HOSPITALS, n), -1)
    masks = np.array([31, 0b00011, 0b01100, 0b10001, 0b00110, 0b11000])
    mask = np.where(rng.random(n) < 0.8, 31, masks[rng.integers(1, 6, n)])
    return {
        "band": band,
        "age": age,
        "district": district,
        "km_cap": km_cap,
        "allowed": allowed,
        "mask": mask,
        "urgent": (band == 0) & (rng.random(n) < 0.1),
        "target": TARGET_DAYS[band] - age,
    }


def bucketed_problem(f: dict[str, np.ndarray], loc: np.ndarray, slots: tuple) -> bulk.Problem:
    centroids = np.array(list(DISTRICT_CENTROIDS.values()))
    sig_key = np.stack([f["district"], f["km_cap"], f["allowed"]])
    uniq, signature = np.unique(sig_key, axis=1, return_inverse=True)
    km = np.array(
        [[haversine_km(tuple(centroids[d]), tuple(loc[h])) for h in range(HOSPITALS)] for d in uniq[0]]
    )
    eligible = km <= KM_CAPS[uniq[1]][:, None]
    specific = uniq[2] >= 0
    eligible[specific] &= np.arange(HOSPITALS)[None, :] == uniq[2][specific][:, None]
    hosp, day, weekday = slots
    return bulk.Problem(
        f["band"],
        f["urgent"],
        f["age"],
        f["target"],
        signature.ravel(),
        f["mask"],
        eligible,
        km,
        hosp,
        day,
        weekday,
    )


def exact_inputs(f: dict[str, np.ndarray], loc: np.ndarray, slots: tuple) -> tuple[list, list, list]:
    names = list(DISTRICT_CENTROIDS)
    hospitals = [Hospital(f"h{h}", f"H{h}", "", tuple(loc[h])) for h in range(HOSPITALS)]
    entries = [
        Entry(
            f"e{i}",
            ("P1", "P2", "P3")[f["band"][i]],
            TODAY - timedelta(days=int(f["age"][i])),
            TODAY + timedelta(days=int(f["target"][i])),
            urgent=bool(f["urgent"][i]),
            constraints=Constraints(
                hospitals=(f"h{f['allowed'][i]}",) if f["allowed"][i] >= 0 else (),
                max_travel_km=None if f["km_cap"][i] == 0 else float(KM_CAPS[f["km_cap"][i]]),
                home_district=names[f["district"][i]],
                weekdays=tuple(WEEKDAYS[b] for b in range(5) if f["mask"][i] >> b & 1),
            ),
        )
        for i in range(len(f["band"]))
    ]
    base = datetime(2025, 3, 3, 1, tzinfo=UTC)
    slot_objs = [
        Slot(
            f"s{j}",
            f"h{h}",
            base + timedelta(days=int(d), minutes=30 * (j % 6)),
            base + timedelta(days=int(d), minutes=30 * (j % 6) + 30),
            WEEKDAYS[int(wd)],
            local_day=TODAY + timedelta(days=int(d)),
        )
        for j, (h, d, wd) in enumerate(zip(*slots, strict=True))
    ]
    return entries, slot_objs, hospitals


def timed(fn: Callable[[], object], runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main(quick: bool = False, argv: Sequence[str] | None = ()) -> None:
    """``argv=None`` reads the command line (run as a script); ``python -m bench`` passes none."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1 if quick else 3)
    parser.add_argument("--sizes", default="10000" if quick else "10000,100000,1000000")
    parser.add_argument("--exact", default="2000" if quick else "2000,10000")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(2025)
    rows = []
    loc, *slots12 = region(rng, 12)
    for n in [int(s) for s in args.exact.split(",") if s]:
        f = families(rng, n, loc)
        four = tuple(a[slots12[1] < 28] for a in slots12)
        entries, slot_objs, hospitals = exact_inputs(f, loc, four)
        seconds, plan = timed(
            lambda e=entries, s=slot_objs, h=hospitals: optimiser.solve(e, s, h, TODAY), args.runs
        )
        rows.append(
            (n, "exact, slot-level, 4 wk", len(slot_objs), "-", len(plan.assignments), plan.breaches, seconds)
        )
    for n in [int(s) for s in args.sizes.split(",") if s]:
        f = families(rng, n, loc)
        problem = bucketed_problem(f, loc, tuple(slots12))
        seconds, res = timed(lambda p=problem: bulk.solve(p), args.runs)
        rows.append(
            (
                n,
                "bucketed LP, 12 wk",
                len(slots12[0]),
                f"{res.classes}/{res.variables}",
                res.served,
                res.breaches,
                seconds,
            )
        )
    header = ("families", "formulation", "slots", "classes/vars", "served", "breaches", "median s")
    print(
        f"{header[0]:>9} | {header[1]:<24} | {header[2]:>6} | {header[3]:>14} | {header[4]:>7} | "
        f"{header[5]:>8} | {header[6]:>8}   (runs={args.runs}, {HOSPITALS} hospitals)"
    )
    for n, name, s, cv, served, breaches, seconds in rows:
        print(f"{n:>9} | {name:<24} | {s:>6} | {cv:>14} | {served:>7} | {breaches:>8} | {seconds:>8.2f}")


if __name__ == "__main__":
    main(argv=None)
