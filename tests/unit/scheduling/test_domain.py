from __future__ import annotations

import itertools
import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from services.scheduling.domain import bulk
from services.scheduling.domain.calendar import Session, expand
from services.scheduling.domain.costs import Weights, pair_cost, unserved_cost, wait_weight
from services.scheduling.domain.geography import DISTRICT_CENTROIDS, travel_km
from services.scheduling.domain.matching import eligible_hospitals, slot_ok
from services.scheduling.domain.model import WEEKDAYS, Constraints, Entry, Hospital, Slot
from services.scheduling.domain.optimiser import solve
from services.scheduling.domain.pressure import Capacity, Thresholds, compute, level_for, suggestions

TZ = ZoneInfo("Asia/Shanghai")
TODAY = date(2025, 3, 3)
HOSPITALS = [
    Hospital("a", "A", "xicheng", DISTRICT_CENTROIDS["xicheng"], languages=("zh", "en")),
    Hospital("b", "B", "tongzhou", DISTRICT_CENTROIDS["tongzhou"]),
    Hospital("c", "C", "changping", DISTRICT_CENTROIDS["changping"]),
]


def slot(n: int, hospital: str, day_offset: int) -> Slot:
    day = TODAY + timedelta(days=day_offset)
    start = datetime.combine(day, time(9), tzinfo=TZ).astimezone(UTC) + timedelta(minutes=30 * n)
    return Slot(
        f"{hospital}-{day_offset}-{n}",
        hospital,
        start,
        start + timedelta(minutes=30),
        WEEKDAYS[day.weekday()],
        local_day=day,
    )


def entry(case: str, band: str = "P2", age: int = 10, target: int = 20, **constraints) -> Entry:
    return Entry(
        case,
        band,
        TODAY - timedelta(days=age),
        TODAY + timedelta(days=target),
        constraints=Constraints(**constraints),
    )


class TestCalendar:
    def test_expands_sessions_into_local_slots_and_skips_holidays(self):
        session = Session("s", "a", "mon", time(9), time(11), 30)
        slots = expand([session], TODAY, 14, {"a": {TODAY + timedelta(days=7)}}, TZ)
        assert len(slots) == 4  # two Mondays, one a holiday; four 30-minute slots
        assert slots[0].start == datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
        assert slots[0].day == TODAY and slots[0].weekday == "mon"

    def test_expanding_twice_gives_the_same_ids(self):
        session = Session("s", "a", "wed", time(13, 30), time(16, 30), 45, kind="follow_up")
        first = [s.id for s in expand([session], TODAY, 28, {}, TZ)]
        assert first == [s.id for s in expand([session], TODAY, 28, {}, TZ)]
        assert len(first) == 4 * 4 and len(set(first)) == len(first)

    def test_region_wide_holiday_closes_every_hospital(self):
        sessions = [
            Session("s1", "a", "mon", time(9), time(10), 30),
            Session("s2", "b", "mon", time(9), time(10), 30),
        ]
        assert expand(sessions, TODAY, 1, {"*": {TODAY}}, TZ) == []


class TestMatching:
    def test_travel_language_and_hospital_limits(self):
        near = Constraints(home_district="xicheng", max_travel_km=15)
        assert eligible_hospitals(near, "school_refusal", HOSPITALS) == ["a"]
        assert eligible_hospitals(Constraints(language="en"), "school_refusal", HOSPITALS) == ["a"]
        assert eligible_hospitals(Constraints(language="en-GB"), "school_refusal", HOSPITALS) == ["a"]
        assert eligible_hospitals(Constraints(hospitals=("b", "c")), "school_refusal", HOSPITALS) == [
            "b",
            "c",
        ]
        assert eligible_hospitals(Constraints(), "learning_difficulty", HOSPITALS) == []

    def test_unknown_district_does_not_exclude(self):
        assert travel_km("atlantis", (39.9, 116.4)) is None
        assert (
            len(
                eligible_hospitals(
                    Constraints(home_district="atlantis", max_travel_km=1), "school_refusal", HOSPITALS
                )
            )
            == 3
        )

    def test_weekday_limit(self):
        e = entry("x", weekdays=("tue",))
        assert not slot_ok(e, slot(0, "a", 0), {"a"})
        assert slot_ok(e, slot(0, "a", 1), {"a"})


def brute_force(entries, slots, today, w) -> float:
    """Every injective partial assignment of feasible pairs; the cheapest total."""
    horizon_end = max(s.day for s in slots)
    location = {h.id: h.location for h in HOSPITALS}
    options = []
    for e in entries:
        eligible = set(eligible_hospitals(e.constraints, e.clinic_type, HOSPITALS))
        weight = wait_weight(e.band, e.urgent, e.referred_on, today, w)
        choices = [(None, unserved_cost(weight, e.target_date, horizon_end, today, w))]
        for j, s in enumerate(slots):
            if slot_ok(e, s, eligible):
                km = travel_km(e.constraints.home_district, location[s.hospital_id])
                choices.append((j, pair_cost(weight, e.target_date, s.day, today, km, w)))
        options.append(choices)
    best = float("inf")
    for combo in itertools.product(*options):
        used = [j for j, _ in combo if j is not None]
        if len(used) == len(set(used)):
            best = min(best, sum(c for _, c in combo))
    return best


class TestOptimiser:
    @pytest.mark.parametrize("seed", range(40))
    def test_matches_brute_force_on_tiny_instances(self, seed):
        rng = random.Random(seed)
        districts = sorted(DISTRICT_CENTROIDS)
        entries = [
            Entry(
                f"e{i}",
                rng.choice(["P1", "P2", "P3"]),
                TODAY - timedelta(days=rng.randint(0, 90)),
                TODAY + timedelta(days=rng.randint(-3, 30)),
                urgent=rng.random() < 0.15,
                constraints=Constraints(
                    hospitals=tuple(rng.sample("abc", rng.randint(0, 2))),
                    max_travel_km=rng.choice([None, 20.0, 40.0]),
                    home_district=rng.choice(districts),
                    weekdays=tuple(rng.sample(WEEKDAYS[:5], 3)) if rng.random() < 0.3 else (),
                ),
            )
            for i in range(rng.randint(1, 5))
        ]
        slots = [slot(n, rng.choice("abc"), rng.randint(0, 27)) for n in range(rng.randint(1, 5))]
        w = Weights()
        plan = solve(entries, slots, HOSPITALS, TODAY, w)
        assert plan.objective == pytest.approx(brute_force(entries, slots, TODAY, w))
        assert len({a.slot_id for a in plan.assignments}) == len(plan.assignments)
        assert len(plan.assignments) + len(plan.unserved) == len(entries)

    def test_first_come_gets_the_earlier_slot_within_a_band(self):
        plan = solve(
            [entry("new", age=1), entry("old", age=40)], [slot(0, "a", 3), slot(0, "a", 10)], HOSPITALS, TODAY
        )
        by_case = {a.case_id: a.slot_day for a in plan.assignments}
        assert by_case["old"] < by_case["new"]

    def test_avoiding_a_breach_beats_band_order(self):
        p1 = entry("p1", band="P1", target=30)
        p3 = entry("p3", band="P3", target=4)
        plan = solve([p1, p3], [slot(0, "a", 2), slot(0, "a", 20)], HOSPITALS, TODAY)
        assert plan.breaches == 0
        assert {a.case_id: a.slot_day.day for a in plan.assignments} == {"p3": 5, "p1": 23}

    def test_higher_band_is_served_when_capacity_is_short(self):
        plan = solve(
            [entry("p3", band="P3", age=60), entry("p1", band="P1", age=0)],
            [slot(0, "a", 2)],
            HOSPITALS,
            TODAY,
        )
        assert [a.case_id for a in plan.assignments] == ["p1"] and plan.unserved == ["p3"]


class TestPressure:
    def test_projection_counts_breaches_and_predicts_wait(self):
        entries = [entry(f"c{i}", band="P2", age=i, target=10) for i in range(6)]
        capacity = {"a": Capacity(open_days=[TODAY + timedelta(days=d) for d in (2, 4, 6)], weekly_rate=3)}
        rows = compute(entries, {e.case_id: "a" for e in entries}, capacity, TODAY, TODAY + timedelta(days=7))
        p2 = next(r for r in rows if r.band == "P2")
        assert (p2.waiting, p2.capacity, p2.projected_breaches) == (
            6,
            3,
            2,
        )  # days 2, 4, 6, then 10 (= target), 12, 14
        assert p2.predicted_wait_days == 7 + 10  # 7th in line: a week past the window at 3 a week
        assert p2.level == "high"
        assert next(r for r in rows if r.band == "P1").predicted_wait_days == 2

    def test_levels(self):
        t = Thresholds()
        assert level_for("P1", 5, 0, t) == "normal"
        assert level_for("P1", 14, 0, t) == "high"
        assert level_for("P1", 21, 0, t) == "critical"
        assert level_for("P3", 10, 10, t) == "critical"

    def test_suggests_moves_to_spare_capacity_within_constraints(self):
        entries = [entry(f"c{i}", band="P1", age=i, target=5) for i in range(4)]
        capacity = {
            "a": Capacity(weekly_rate=1),
            "b": Capacity([TODAY + timedelta(days=1)] * 3, weekly_rate=3),
        }
        home = {e.case_id: "a" for e in entries}
        rows = compute(entries, home, capacity, TODAY, TODAY + timedelta(days=28))
        eligible = {"c0": ["a"], "c1": ["a", "b"], "c2": ["a", "b"], "c3": ["a", "b"]}
        moves = suggestions(entries, home, eligible, rows)
        assert [m.case_id for m in moves] == ["c3", "c2", "c1"]  # longest waiting first; c0 accepts only a
        assert all(m.to_hospital == "b" for m in moves)


class TestBucketed:
    def problem(self, bands, slots_per_week=2, weeks=2, eligible=((True, False),)):
        n = len(bands)
        days = np.array([wk * 7 + d for wk in range(weeks) for d in range(slots_per_week)])
        return bulk.Problem(
            band=np.array(bands),
            urgent=np.zeros(n, bool),
            age_days=np.arange(n)[::-1].copy(),
            target_day=np.full(n, 60),
            signature=np.zeros(n, int),
            weekday_mask=np.full(n, 31),
            sig_eligible=np.array(eligible),
            sig_km=np.zeros((1, 2)),
            slot_hospital=np.zeros(len(days), int),
            slot_day=days,
            slot_weekday=days % 7 % 5,
        )

    def test_serves_higher_bands_within_capacity_and_constraints(self):
        result = bulk.solve(self.problem([2, 2, 0, 1, 2, 0]), oversubscribe=10)
        assert result.served == 4 and result.unserved == 2
        assert set(np.flatnonzero(result.hospital >= 0)) == {0, 2, 3, 5}  # both P1s, the P2, the oldest P3
        assert set(result.hospital[result.hospital >= 0]) == {0}  # only the acceptable hospital
