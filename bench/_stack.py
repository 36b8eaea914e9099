"""The stack (deploy/stack.sh: gunicorn API + worker per service) started for a benchmark, and its lag.

The benchmark's stack keeps its state under ``$WAYMARK_RUN/bench`` and its data in
``bench_<service>`` databases (dropped before and after), on the ports the environment
names (<SERVICE>_PORT, CONSOLE_PORT), so it never writes into a developer's stack. It
refuses to start when those ports are taken (stack.sh says which).

Topics and consumer groups cannot be renamed per run (one topic per service, one group
per service), so the stack shares them with a developer's ``make stack`` on the same
Kafka. A run that leaves a backlog (the stack could not keep up) moves the groups past
it when it stops: those events belong to the databases it just dropped. A run refuses to
start on a backlog it did not leave (``BENCH_SKIP_BACKLOG=1`` skips it: only when no
stack of yours needs those events).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import OffsetSpec

from bench._infra import REPO, Infra, run_dir
from services.platform import available
from shared.settings import Settings

STACK = str(REPO / "deploy" / "stack.sh")


def urls() -> dict[str, str]:
    return {name: f"http://127.0.0.1:{Settings.from_env(name).port}" for name in [*available(), "console"]}


@contextmanager
def running(infra: Infra, extra_env: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """Start the stack with ``extra_env`` on fresh databases; yields each service's URL; always stops it."""
    databases = {f"{name.upper()}_DB": f"bench_{name}" for name in available()}
    # The benchmark started Kafka and the store (deploy/infra.sh) and measures against them: the
    # stack must use them as they are, not take them over under its own supervisor.
    env = {
        **os.environ,
        **infra.env(),
        "WAYMARK_RUN": str(run_dir()),
        "WAYMARK_STACK_INFRA": "external",
        **databases,
        **extra_env,
    }
    before = {group: n for group, n in lag(infra.bootstrap).items() if n}
    if before and os.environ.get("BENCH_SKIP_BACKLOG") != "1":
        raise RuntimeError(
            f"consumer groups have unconsumed events before the run: {before}. Let your stack drain them, "
            "or set BENCH_SKIP_BACKLOG=1 to move the groups past them (they are lost to any stack)"
        )
    if before:
        print(f"  skipping a backlog left on Kafka: {skip_backlog(infra.bootstrap)}", flush=True)
    client = infra.mongo()
    try:
        for db in databases.values():
            client.drop_database(db)
        _stack_sh("start", env)
        try:
            yield urls()
        finally:
            _stack_sh("stop", env)
            left = {group: n for group, n in skip_backlog(infra.bootstrap).items() if n}
            if left:
                print(
                    f"  the stack left {left} events unconsumed; its groups now start after them", flush=True
                )
        for db in databases.values():
            client.drop_database(db)
    finally:
        client.close()


def _stack_sh(action: str, env: Mapping[str, str]) -> None:
    """deploy/stack.sh with its chatter in $WAYMARK_RUN/bench/stack.log, shown only when it fails."""
    log = run_dir() / "stack.log"
    with log.open("a") as out:
        done = subprocess.run([STACK, action], env=env, stdout=out, stderr=subprocess.STDOUT, timeout=300)
    if done.returncode:
        print(log.read_text()[-3000:])
        raise RuntimeError(f"deploy/stack.sh {action} failed (exit {done.returncode}; log {log})")


def skip_backlog(bootstrap: str) -> dict[str, int]:
    """Commit the end of every topic for each service's (memberless) group; returns the lag skipped."""
    skipped = lag(bootstrap)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="bench-skip")
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), client_id="bench-skip")
    try:
        for group in skipped:
            committed = admin.list_group_offsets({group: None}).get(group, {})
            partitions = _partitions(consumer, {tp.topic for tp in committed})
            if partitions:
                admin.reset_group_offsets(group, dict.fromkeys(partitions, OffsetSpec.LATEST))
    finally:
        consumer.close()
        admin.close()
    return skipped


def _partitions(consumer: KafkaConsumer, topic_names: set[str]) -> list[TopicPartition]:
    return [
        TopicPartition(t, p)
        for t in sorted(topic_names)
        for p in sorted(consumer.partitions_for_topic(t) or ())
    ]


def lag(bootstrap: str, groups: Sequence[str] | None = None) -> dict[str, int]:
    """Each consumer group's lag: end offsets minus committed offsets over the topics it has committed on.

    A partition of such a topic with no commit yet counts in full (the group would read it
    from the beginning).
    """
    groups = list(groups or available())
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="bench-lag")
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), client_id="bench-lag")
    try:
        known = {g["group_id"] for g in admin.list_groups()}
        result = {}
        for group in groups:
            if group not in known:
                continue
            committed = admin.list_group_offsets({group: None}).get(group, {})
            partitions = _partitions(consumer, {tp.topic for tp in committed})
            ends = consumer.end_offsets(partitions) if partitions else {}
            result[group] = sum(
                max(0, end - max(0, committed[tp].offset if tp in committed else 0))
                for tp, end in ends.items()
            )
        return result
    finally:
        consumer.close()
        admin.close()
