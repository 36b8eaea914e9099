"""A second worker joins a busy consumer group: how long consumption stalls, eager vs cooperative rebalancing.

Two ``shared.kafka.KafkaSource`` members of one group on a 3-partition topic holding a
backlog; each handles a record in ``HANDLE_S`` (a store write's worth) and commits per
polled batch, as the consumer loop does. Worker A starts alone; once it has handled
``JOIN_AFTER`` records, worker B joins. Measured per strategy (median of the rounds):
B's wait (its start → its first handled record), the longest gap in A's handling after B
started, and the longest stretch after B started in which neither handled anything.
Baseline: the eager range assignor (every member gives up every partition at each
rebalance), which the workers use (``shared.kafka.KafkaSource``); against it kafka-python's
cooperative sticky assignor (KIP-429) and eager with smaller polled batches.
"""

from __future__ import annotations

import contextlib
import itertools
import statistics
import threading
import time
import uuid

from kafka import KafkaProducer
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.coordinator.assignors.range import RangePartitionAssignor

from bench._infra import create_topics, infra_or_skip
from bench._table import print_table
from shared.kafka import KafkaSource

HANDLE_S = 0.01
BACKLOG, JOIN_AFTER, ROUNDS = 3000, 300, 3
QUICK_BACKLOG, QUICK_JOIN_AFTER, QUICK_ROUNDS = 900, 150, 1
STRATEGIES = {
    "eager range, 100/poll": (RangePartitionAssignor, 100),
    "eager range, 20/poll": (RangePartitionAssignor, 20),
    "cooperative sticky, 100/poll": (CooperativeStickyAssignor, 100),
}


class Run:
    def __init__(self, bootstrap: str, backlog: int) -> None:
        self.bootstrap, self.backlog = bootstrap, backlog
        self.topic = f"bench.rebalance.{uuid.uuid4().hex[:8]}"
        self.group = f"bench-{self.topic}"
        self.handled: dict[str, list[float]] = {"A": [], "B": []}
        self.seen: set[tuple[int, int]] = set()
        self.stop = threading.Event()
        self._lock = threading.Lock()

    def fill(self) -> None:
        create_topics(self.bootstrap, [self.topic])
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
        for i in range(self.backlog):
            producer.send(self.topic, key=f"k{i}".encode(), value=b"x")
        producer.flush()
        producer.close()

    def worker(self, name: str, assignor: type, per_poll: int) -> None:
        source = KafkaSource(
            self.bootstrap,
            self.group,
            [self.topic],
            f"bench-{name}",
            assignors=(assignor,),
            max_poll_records=per_poll,
        )
        try:
            while not self.stop.is_set():
                records = source.poll(0.2)
                for record in records:
                    time.sleep(HANDLE_S)
                    with self._lock:
                        self.handled[name].append(time.perf_counter())
                        self.seen.add((record.partition, record.offset))
                        if len(self.seen) >= self.backlog:
                            self.stop.set()
                with contextlib.suppress(Exception):  # a rebalance took a partition: its records come again
                    source.commit(records)
        finally:
            source.close()


def one_round(
    bootstrap: str, assignor: type, per_poll: int, backlog: int, join_after: int
) -> tuple[float, float, float]:
    run = Run(bootstrap, backlog)
    run.fill()
    a = threading.Thread(target=run.worker, args=("A", assignor, per_poll), daemon=True)
    a.start()
    while len(run.handled["A"]) < join_after:
        time.sleep(0.01)
    b_started = time.perf_counter()
    b = threading.Thread(target=run.worker, args=("B", assignor, per_poll), daemon=True)
    b.start()
    if not run.stop.wait(600):
        raise TimeoutError(f"{len(run.seen)} of {backlog} records after 600 s")
    a.join(30)
    b.join(30)
    b_wait = run.handled["B"][0] - b_started if run.handled["B"] else float("nan")
    after = lambda ts: [b_started, *[t for t in ts if t >= b_started]]  # noqa: E731
    gap = lambda ts: max((y - x for x, y in itertools.pairwise(ts)), default=0.0)  # noqa: E731
    both = sorted(run.handled["A"] + run.handled["B"])
    return b_wait, gap(after(run.handled["A"])), gap(after(both))


def main(quick: bool = False) -> None:
    infra = infra_or_skip("rebalance")
    if infra is None:
        return
    backlog, join_after, rounds = (
        (QUICK_BACKLOG, QUICK_JOIN_AFTER, QUICK_ROUNDS) if quick else (BACKLOG, JOIN_AFTER, ROUNDS)
    )
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in STRATEGIES}
    for r in range(rounds):
        for name, (assignor, per_poll) in STRATEGIES.items():
            results[name].append(one_round(infra.bootstrap, assignor, per_poll, backlog, join_after))
            b_wait, a_gap, stall = results[name][-1]
            print(
                f"  round {r + 1}/{rounds} {name}: B waited {b_wait:.2f} s, A's longest gap {a_gap:.2f} s, "
                f"group stalled {stall:.2f} s",
                flush=True,
            )
    rows = []
    for name, values in results.items():
        medians = [statistics.median(v[i] for v in values) for i in range(3)]
        rows.append([name, backlog, rounds, *medians])
    print_table(
        ["assignment", "backlog", "rounds", "B's wait s", "A's longest gap s", "group stalled s"], rows
    )
