"""The duty lease: one worker of a service leads, another takes over when it dies, never both."""

from __future__ import annotations

import threading

import pytest
from prometheus_client import REGISTRY

from shared.leadership import COLLECTION, DutyLease
from shared.memory_bus import MemoryBus
from shared.runtime import embedded_workers
from tests.support import probe_service
from tests.support.processes import eventually

TERM = 15.0
CHECK = 1.0


class Clock:
    def __init__(self, now: float = 1_000_000.3) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def lease(db, clock: Clock, holder: str) -> DutyLease:
    return DutyLease(db, "probe", term_s=TERM, holder=holder, clock=clock, check_s=CHECK)


def step(clock: Clock, leases: list[DutyLease], seconds: float) -> list[tuple[float, list[bool]]]:
    """Advance in check intervals, every live lease checking at each; what each believed at each instant."""
    seen = []
    for _ in range(int(seconds / CHECK)):
        for each in leases:
            each.check()
        seen.append((clock.now, [each.standing(clock.now).leading for each in leases]))
        # Between checks too: a belief ends at its held slots' end, not at the next check.
        clock.now += CHECK / 2
        seen.append((clock.now, [each.standing(clock.now).leading for each in leases]))
        clock.now += CHECK / 2
    return seen


def test_one_of_two_leads_and_keeps_leading_across_slot_boundaries(db):
    clock = Clock()
    a, b = lease(db, clock, "a"), lease(db, clock, "b")
    seen = step(clock, [a, b], CHECK)
    # From now on b checks first at every slot boundary: the leader's claim ahead keeps it leading.
    seen += step(clock, [b, a], 5 * TERM)
    assert all(beliefs[0] and not beliefs[1] for _, beliefs in seen[:2])
    assert all(beliefs == [False, True] for _, beliefs in seen[2:])


@pytest.mark.parametrize("dies_after", [0.0, 4.0, 13.0, 14.5])
def test_when_the_leader_dies_the_other_takes_over_within_a_term_and_never_both(db, dies_after):
    clock = Clock()
    a, b = lease(db, clock, "a"), lease(db, clock, "b")
    step(clock, [a, b], 2 * TERM)
    # Put the death at a chosen point of a slot, including inside the claim-ahead margin.
    clock.now += (dies_after - clock.now % TERM) % TERM
    died = clock.now
    seen = step(clock, [b], 3 * TERM)  # a is killed: it checks no more
    takeover = next(t for t, [b_leads] in seen if b_leads)
    assert takeover - died <= TERM + a.margin_s + CHECK
    for t, [b_leads] in seen:
        assert not (b_leads and a.standing(t).leading), f"both lead at {t}"
    assert all(b_leads for t, [b_leads] in seen if t >= takeover)


def test_a_paused_leader_stops_believing_at_its_slots_end_and_finds_it_lost(db):
    clock = Clock()
    a, b = lease(db, clock, "a"), lease(db, clock, "b")
    step(clock, [a, b], TERM)
    paused_until_end = a.standing(clock.now).until
    seen = step(clock, [b], 3 * TERM)  # a is paused (a stop-the-world, a slow disk), b carries on
    assert all(not a.standing(t).leading for t, _ in seen if t >= paused_until_end)
    for t, [b_leads] in seen:
        assert not (b_leads and a.standing(t).leading), f"both lead at {t}"
    a.check()
    assert not a.standing(clock.now).leading
    assert b.standing(clock.now).leading


def test_a_leader_that_stops_cleanly_hands_over_at_the_next_check(db):
    clock = Clock()
    a, b = lease(db, clock, "a"), lease(db, clock, "b")
    step(clock, [a, b], TERM - 1)  # a has claimed the next slot too
    a.release()
    assert not a.standing(clock.now).leading
    b.check()
    assert b.standing(clock.now).leading


def test_an_insert_that_landed_while_the_store_answered_an_error_is_recognised(db):
    clock = Clock()
    a = lease(db, clock, "a")
    real = a.collection

    class Flaky:
        def insert_one(self, doc):
            real.insert_one(doc)
            raise ConnectionError("reply lost")

        def __getattr__(self, name):
            return getattr(real, name)

    a.collection = Flaky()
    a.check()
    assert not a.standing(clock.now).leading  # unsure: not leading on a maybe
    a.collection = real
    a.check()
    assert a.standing(clock.now).leading


def test_a_clean_stop_also_deletes_a_slot_whose_insert_it_never_heard_back_from(db):
    clock = Clock()
    a, b = lease(db, clock, "a"), lease(db, clock, "b")
    real = a.collection

    class Flaky:
        def insert_one(self, doc):
            real.insert_one(doc)
            raise ConnectionError("reply lost")

        def __getattr__(self, name):
            return getattr(real, name)

    a.collection = Flaky()
    a.check()
    a.release()
    b.check()
    assert b.standing(clock.now).leading


def test_old_slots_are_pruned(db):
    clock = Clock()
    a, b = lease(db, clock, "a"), lease(db, clock, "b")
    step(clock, [a, b], 10 * TERM)
    assert db[COLLECTION].count_documents({}) <= 3


def test_two_embedded_workers_run_the_duties_once_and_hand_over_when_the_leader_stops(settings, db):
    """The Worker starts its duties on gaining the lease and stops them (their own stop event) on losing it."""
    settings = settings.but(duty_lease_s=0.6)
    ran: list[str] = []

    def worker(label: str):
        service = probe_service.build(settings, db=db)

        def duty(stop: threading.Event) -> None:
            while not stop.is_set():
                ran.append(label)
                stop.wait(0.02)
            ran.append(f"{label}-stopped")

        service.background = [duty]
        [w] = embedded_workers([service], MemoryBus())
        return w

    first, second = worker("first"), worker("second")
    first.start()
    eventually(lambda: "first" in ran, timeout=5, what="the first worker to lead")
    second.start()
    try:
        eventually(lambda: ran.count("first") > 20, timeout=5, what="the first worker's duty to run a while")
        assert "second" not in ran
        assert REGISTRY.get_sample_value("waymark_duty_leader", {"service": "probe"}) == 1
        first.stop()
        assert "first-stopped" in ran  # stop() returned after the duty did
        eventually(lambda: "second" in ran, timeout=5, what="the second worker to take over")
        handover = ran.index("second")
        assert "first-stopped" in ran[:handover]
        assert "first" not in ran[handover:]
    finally:
        second.stop()
        first.stop()
