from __future__ import annotations

import threading
import time

import pytest
from pymongo.errors import OperationFailure, ServerSelectionTimeoutError

from shared.consumer import ConsumerLoop, DeadLetterCapExceeded, DependencyUnavailable, Subscription
from shared.events import Event, event_type, to_kafka
from shared.inbox import Inbox
from shared.memory_bus import MemoryBus
from shared.messaging import CommitFailed, Record
from shared.settings import ConsumerPolicy, Settings
from tests.support.processes import eventually

TOPIC, DLQ = "waymark.probe.events", "waymark.probe.dlq"


def event(subject: str = "case-1", name: str = "probe.pinged", **data) -> Event:
    return Event(event_type(name), "/services/probe", subject, data)


class Recorder:
    def __init__(self, failures: list[BaseException] | None = None) -> None:
        self.failures = list(failures or [])
        self.seen: list[Event] = []

    def __call__(self, e: Event) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.seen.append(e)


def make_loop(bus: MemoryBus, settings: Settings, db, handler) -> tuple[ConsumerLoop, object]:
    subscription = Subscription("probe", (TOPIC,), {"probe.pinged": handler}, DLQ)
    source = bus.source("probe", [TOPIC])
    loop = ConsumerLoop(
        "probe", subscription, source, bus, Inbox(db), settings.consumer, sleep=lambda s: None
    )
    return loop, source


def drain(loop: ConsumerLoop, source) -> None:
    for record in source.poll(0.01):
        if loop.process(record):
            source.commit([record])


class TestHandling:
    def test_handles_and_commits(self, bus, settings, db):
        handler = Recorder()
        loop, source = make_loop(bus, settings, db, handler)
        bus.send(TOPIC, *_kv(event()))
        drain(loop, source)
        assert len(handler.seen) == 1
        assert source.lag() == {(TOPIC, 0): 0}

    def test_redelivered_event_is_handled_once(self, bus, settings, db):
        handler = Recorder()
        loop, source = make_loop(bus, settings, db, handler)
        e = event()
        bus.send(TOPIC, *_kv(e))
        bus.send(TOPIC, *_kv(e))
        drain(loop, source)
        assert [s.id for s in handler.seen] == [e.id]

    def test_unknown_types_are_skipped_and_committed(self, bus, settings, db):
        handler = Recorder()
        loop, source = make_loop(bus, settings, db, handler)
        bus.send(TOPIC, *_kv(event(name="probe.other")))
        drain(loop, source)
        assert handler.seen == []
        assert source.lag() == {(TOPIC, 0): 0}

    def test_transient_failure_is_retried_then_handled(self, bus, settings, db):
        handler = Recorder([ValueError("flaky"), ValueError("flaky")])
        loop, source = make_loop(bus, settings, db, handler)
        bus.send(TOPIC, *_kv(event()))
        drain(loop, source)
        assert len(handler.seen) == 1
        assert bus.records(DLQ) == []

    @pytest.mark.parametrize(
        "outage_error",
        [ServerSelectionTimeoutError("store down"), DependencyUnavailable("referral down")],
    )
    def test_outages_never_count_towards_dead_lettering(self, bus, settings, db, outage_error):
        outage = [outage_error] * (settings.consumer.max_attempts + 3)
        handler = Recorder(outage)
        loop, source = make_loop(bus, settings, db, handler)
        bus.send(TOPIC, *_kv(event()))
        drain(loop, source)
        assert len(handler.seen) == 1
        assert bus.records(DLQ) == []


class TestCommits:
    def test_a_crash_mid_batch_commits_what_was_finished_and_nothing_after(self, bus, settings, db):
        def crash_on_second(e: Event) -> None:
            if e.subject == "c2":
                raise SystemExit("killed")

        loop, source = make_loop(bus, settings, db, crash_on_second)
        for n in (1, 2, 3):
            bus.send(TOPIC, *_kv(event(subject=f"c{n}")))
        with pytest.raises(SystemExit):
            loop.run(poll_timeout_s=0.01)
        assert source.lag() == {(TOPIC, 0): 2}  # c1 committed; c2 and c3 come again


class TestDeadLetters:
    def test_poison_lands_in_dlq_after_max_attempts_with_provenance(self, bus, settings, db):
        attempts = []

        def poison(e: Event) -> None:
            attempts.append(e.id)
            raise ValueError("cannot handle")

        loop, source = make_loop(bus, settings, db, poison)
        e = event()
        bus.send(TOPIC, *_kv(e))
        drain(loop, source)
        assert len(attempts) == settings.consumer.max_attempts
        [dead] = bus.records(DLQ)
        assert dead.header("ce_id") == e.id
        assert dead.header("dlq_topic") == TOPIC
        assert dead.header("dlq_offset") == "0"
        assert dead.header("dlq_attempts") == str(settings.consumer.max_attempts)
        assert "cannot handle" in dead.header("dlq_reason")
        assert source.lag() == {(TOPIC, 0): 0}

    def test_invalid_envelope_goes_straight_to_dlq(self, bus, settings, db):
        handler = Recorder()
        loop, source = make_loop(bus, settings, db, handler)
        bus.send(TOPIC, b"k", b"garbage", [])
        drain(loop, source)
        [dead] = bus.records(DLQ)
        assert dead.value == b"garbage"
        assert "invalid envelope" in dead.header("dlq_reason")

    def test_consecutive_dead_letters_over_the_cap_stop_without_committing(self, bus, settings, db):
        loop, source = make_loop(bus, settings, db, Recorder([ValueError("x")] * 100))
        for n in range(settings.consumer.dead_letter_cap + 1):
            bus.send(TOPIC, *_kv(event(subject=f"c{n}")))
        with pytest.raises(DeadLetterCapExceeded):
            drain(loop, source)
        assert len(bus.records(DLQ)) == settings.consumer.dead_letter_cap
        assert source.lag() == {(TOPIC, 0): 1}

    def test_a_success_resets_the_cap(self, bus, settings, db):
        failures = [ValueError("x")] * 3 + [ValueError("x")] * 3
        handler = Recorder(failures[:3])
        loop, source = make_loop(bus, settings, db, handler)
        for n in range(settings.consumer.dead_letter_cap * 3):
            bus.send(TOPIC, *_kv(event(subject=f"c{n}")))
            if n % 2 == 0:
                handler.failures = [ValueError("x")] * settings.consumer.max_attempts
            drain(loop, source)
        assert len(bus.records(DLQ)) == settings.consumer.dead_letter_cap * 3 // 2


def _kv(e: Event):
    return to_kafka(e)


class RefusingSource:
    """A source whose broker refuses the first commits (a rebalance moved the partitions)."""

    def __init__(self, inner, refusals: int) -> None:
        self.inner, self.refusals, self.polls = inner, refusals, 0

    def poll(self, timeout_s):
        self.polls += 1
        return self.inner.poll(timeout_s)

    def commit(self, records):
        if self.refusals:
            self.refusals -= 1
            raise CommitFailed("CommitFailedError: the group has rebalanced")
        self.inner.commit(records)

    def lag(self):
        return self.inner.lag()

    def close(self):
        self.inner.close()


def test_a_refused_commit_does_not_stop_the_loop(bus, settings, db):
    handler = Recorder()
    subscription = Subscription("probe", (TOPIC,), {"probe.pinged": handler}, DLQ)
    source = RefusingSource(bus.source("probe", [TOPIC]), refusals=1)
    loop = ConsumerLoop(
        "probe", subscription, source, bus, Inbox(db), settings.consumer, sleep=lambda s: None
    )
    bus.send(TOPIC, *_kv(event(subject="c1")))
    thread = threading.Thread(target=loop.run, kwargs={"poll_timeout_s": 0.01})
    thread.start()
    try:
        eventually(lambda: len(handler.seen) == 1 and source.polls > 3, timeout=5, what="the loop to go on")
        bus.send(TOPIC, *_kv(event(subject="c2")))
        eventually(lambda: len(handler.seen) == 2, timeout=5, what="the next event after the refusal")
        eventually(lambda: source.lag() == {(TOPIC, 0): 0}, timeout=5, what="the later commit to cover both")
    finally:
        loop.stop()
        thread.join(5)
    assert thread.is_alive() is False


class FakeClock:
    """Time that moves only when the loop sleeps: a two-minute outage runs in microseconds."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class TestOutageBackoff:
    def test_a_long_outage_backs_off_exponentially_up_to_the_cap(self, bus, settings, db):
        clock = FakeClock()
        policy = ConsumerPolicy()  # the shipped defaults: 0.2 s doubling to 5 s
        outage_s = 120.0

        def store_down_for_two_minutes(e: Event) -> None:
            if clock.now < outage_s:
                raise ServerSelectionTimeoutError("store down")

        subscription = Subscription("probe", (TOPIC,), {"probe.pinged": store_down_for_two_minutes}, DLQ)
        source = bus.source("probe", [TOPIC])
        loop = ConsumerLoop("probe", subscription, source, bus, Inbox(db), policy, sleep=clock.sleep)
        bus.send(TOPIC, *_kv(event()))
        drain(loop, source)

        assert source.lag() == {(TOPIC, 0): 0}  # handled once the outage ended, never dead-lettered
        for n, delay in enumerate(clock.sleeps):
            ceiling = min(policy.backoff_max_s, policy.backoff_initial_s * 2**n)
            assert ceiling / 2 <= delay <= ceiling, (n, delay)
        assert max(clock.sleeps) > policy.backoff_max_s / 2
        # ~ 5 doubling steps, then one retry per 2.5-5 s: dozens, not the hundreds a fixed 0.2 s gives.
        assert len(clock.sleeps) <= 5 + outage_s / (policy.backoff_max_s / 2) + 1

    def test_the_backoff_starts_again_after_the_outage(self, bus, settings, db):
        clock = FakeClock()
        handler = Recorder([ServerSelectionTimeoutError("down")] * 6)
        subscription = Subscription("probe", (TOPIC,), {"probe.pinged": handler}, DLQ)
        source = bus.source("probe", [TOPIC])
        loop = ConsumerLoop(
            "probe", subscription, source, bus, Inbox(db), settings.consumer, sleep=clock.sleep
        )
        bus.send(TOPIC, *_kv(event(subject="a")))
        drain(loop, source)
        handler.failures = [ServerSelectionTimeoutError("down again")]
        bus.send(TOPIC, *_kv(event(subject="b")))
        drain(loop, source)
        assert [e.subject for e in handler.seen] == ["a", "b"]
        assert clock.sleeps[-1] <= settings.consumer.backoff_initial_s  # a new outage starts small


class ExplodingCommitSource(RefusingSource):
    """A source whose commit raises something other than CommitFailed (a client-internal error)."""

    def commit(self, records):
        if self.refusals:
            self.refusals -= 1
            raise TimeoutError("commit timed out inside the client")
        self.inner.commit(records)


def test_any_commit_error_costs_redeliveries_not_the_worker(bus, settings, db):
    handler = Recorder()
    subscription = Subscription("probe", (TOPIC,), {"probe.pinged": handler}, DLQ)
    source = ExplodingCommitSource(bus.source("probe", [TOPIC]), refusals=2)
    loop = ConsumerLoop(
        "probe", subscription, source, bus, Inbox(db), settings.consumer, sleep=lambda s: None
    )
    bus.send(TOPIC, *_kv(event(subject="c1")))
    thread = threading.Thread(target=loop.run, kwargs={"poll_timeout_s": 0.01})
    thread.start()
    try:
        eventually(lambda: source.refusals == 0 and source.polls > 3, timeout=5, what="the loop to go on")
        bus.send(TOPIC, *_kv(event(subject="c2")))
        eventually(lambda: len(handler.seen) == 2, timeout=5, what="the next event after the failed commits")
        eventually(lambda: source.lag() == {(TOPIC, 0): 0}, timeout=5, what="a later commit")
        assert thread.is_alive()
    finally:
        loop.stop()
        thread.join(5)


def test_the_loop_stamps_its_heartbeat_while_it_polls_and_while_it_waits(bus, settings, db):
    beats: list[int] = []
    handler = Recorder([ServerSelectionTimeoutError("down")] * 3)
    subscription = Subscription("probe", (TOPIC,), {"probe.pinged": handler}, DLQ)
    source = bus.source("probe", [TOPIC])
    loop = ConsumerLoop(
        "probe",
        subscription,
        source,
        bus,
        Inbox(db),
        settings.consumer,
        sleep=lambda s: None,
        heartbeat=lambda: beats.append(1),
    )
    bus.send(TOPIC, *_kv(event()))
    drain(loop, source)
    assert len(beats) >= 1 + 3 * 2  # the record, then before and after each of the three waits


FERRETDB_BACKEND_DOWN = OperationFailure(
    "[msg_find.go:344 handler.handleMaxTimeMSError] [collection.go:109 postgresql.(*collection).Query] "
    "failed to connect to `user=ferretdb database=ferretdb`: 127.0.0.1:55432 (127.0.0.1): dial error",
    code=1,
)


def test_a_storage_outage_behind_ferretdb_is_retried_not_dead_lettered(bus, settings, db):
    # More failures than max_attempts (3 here): as a handler error this was dead-lettered.
    handler = Recorder([FERRETDB_BACKEND_DOWN] * 8)
    loop, source = make_loop(bus, settings, db, handler)
    bus.send(TOPIC, *_kv(event()))
    drain(loop, source)
    assert len(handler.seen) == 1
    assert bus.source("dlq-reader", [DLQ]).poll(0.01) == []


def test_a_unique_violation_from_an_update_is_still_a_handler_failure(bus, settings, db):
    duplicate = OperationFailure("E11000 duplicate key error collection: cases index: _id_", code=1)
    handler = Recorder([duplicate] * 8)
    loop, source = make_loop(bus, settings, db, handler)
    bus.send(TOPIC, *_kv(event()))
    drain(loop, source)
    assert handler.seen == []
    assert len(bus.source("dlq-reader", [DLQ]).poll(0.01)) == 1


class TestLanes:
    """``ConsumerPolicy.concurrency`` > 1: keys side by side, each key in order, commits per partition prefix."""

    @staticmethod
    def loop(bus, handler, **policy) -> ConsumerLoop:
        subscription = Subscription("probe", (TOPIC,), {"probe.pinged": handler}, DLQ)
        merged = {"max_attempts": 1, "backoff_initial_s": 0.001, "backoff_max_s": 0.002, **policy}
        rules = ConsumerPolicy(concurrency=4, **merged)
        return ConsumerLoop("probe", subscription, None, bus, None, rules, sleep=lambda s: None)  # type: ignore[arg-type]

    @staticmethod
    def record(e: Event, partition: int, offset: int) -> Record:
        key, value, headers = to_kafka(e)
        return Record(TOPIC, partition, offset, key, value, headers)

    def test_each_key_in_order_and_keys_side_by_side(self, bus):
        meet = threading.Barrier(2, timeout=5)  # only reached if two keys run at once
        seen: list[tuple[str, int]] = []

        def handler(e: Event) -> None:
            if e.data["n"] == 0:
                meet.wait()
            seen.append((e.subject, e.data["n"]))

        loop = self.loop(bus, handler)
        records = [self.record(event(k, n=n), 0, 2 * n + (k == "b")) for n in range(3) for k in ("a", "b")]
        done = loop.process_batch(records)
        assert done == records
        for key in ("a", "b"):
            assert [n for k, n in seen if k == key] == [0, 1, 2]

    def test_a_stopped_lane_holds_back_the_rest_of_its_partition(self, bus):
        others_done = threading.Event()
        handled: list[str] = []
        loop: ConsumerLoop

        def handler(e: Event) -> None:
            if e.subject == "b":
                assert others_done.wait(5)
                loop.stop()  # a shutdown mid-batch: b is left for redelivery
                raise ValueError("interrupted")
            handled.append(f"{e.subject}{e.data['n']}")
            if {"a2", "c0"} <= set(handled):
                others_done.set()

        loop = self.loop(bus, handler, max_attempts=3)
        a0, b1, a2 = (self.record(event(k, n=n), 0, n) for n, k in enumerate("aba"))
        c0 = self.record(event("c", n=0), 1, 0)
        done = loop.process_batch([a0, b1, a2, c0])
        assert sorted(handled) == ["a0", "a2", "c0"]
        assert done == [a0, c0]  # a2 was handled, but committing it would skip b1
        assert bus.records(DLQ) == []

    def test_a_lane_stuck_in_one_call_stops_the_heartbeat(self, bus):
        """Only lanes beat: a lane hung in a store or HTTP call must let the worker look stalled
        (readiness, WAYMARK_WORKER_STALL_S) instead of the waiting thread keeping it "alive"."""
        beats: list[float] = []
        other_done = threading.Event()
        stuck: list[float] = []

        def handler(e: Event) -> None:
            if e.subject == "b":
                other_done.set()
                return
            assert other_done.wait(5)  # from here on, the only busy lane is this one
            stuck.append(time.monotonic())
            time.sleep(2.5)  # a call that does not return for a while
            stuck.append(time.monotonic())

        subscription = Subscription("probe", (TOPIC,), {"probe.pinged": handler}, DLQ)
        rules = ConsumerPolicy(concurrency=4, max_attempts=1)
        loop = ConsumerLoop(
            "probe", subscription, None, bus, None, rules, sleep=lambda s: None,  # type: ignore[arg-type]
            heartbeat=lambda: beats.append(time.monotonic()),
        )  # fmt: skip
        records = [self.record(event("a", n=0), 0, 0), self.record(event("b", n=0), 1, 0)]
        assert loop.process_batch(records) == records
        began, ended = stuck
        assert [t for t in beats if began < t < ended] == [], "nothing beat for the stuck lane"

    def test_a_duplicate_in_one_batch_is_handled_once(self, bus):
        handled: list[str] = []
        loop = self.loop(bus, lambda e: handled.append(e.id))
        e = event("a", n=0)
        records = [self.record(e, 0, 0), self.record(event("b", n=0), 0, 1), self.record(e, 0, 2)]
        assert loop.process_batch(records) == records
        assert handled.count(e.id) == 1

    def test_the_dead_letter_cap_stops_the_batch_from_a_lane(self, bus):
        def handler(e: Event) -> None:
            raise ValueError("poison")

        loop = self.loop(bus, handler, dead_letter_cap=1)
        records = [self.record(event(k, n=0), 0, n) for n, k in enumerate("abcd")]
        with pytest.raises(DeadLetterCapExceeded):
            loop.process_batch(records)
        assert 1 <= len(bus.records(DLQ)) < 4
