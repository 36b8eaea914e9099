"""One of three brokers is killed under load: nothing acknowledged is lost, nothing is done twice.

Two worker processes of the probe service share its consumer group on a three-broker
cluster (replication factor 3, min.insync.replicas 2), as two instances of a service's
worker would. While this process writes pings through the outbox, the broker leading the
topic's first partition is SIGKILLed. Every ping must be handled exactly once: a record the
producer saw acknowledged survives on the other replicas, the writer's or the sweeper's
retries never double an effect (the inbox), and the group carries on without the dead node.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from kafka import KafkaAdminClient

from shared import kafka, topics
from tests.integration.cluster.conftest import cluster
from tests.integration.shared.test_delivery import log_for, worker_env
from tests.support import probe_service
from tests.support.processes import eventually, python_module, running
from tests.support.secrets_env import kafka_settings

pytestmark = pytest.mark.disruptive

N = 600
WRITERS = 4
PACE_S = 0.1


def leader_of_first_partition(bootstrap: str, topic: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    try:
        (described,) = admin.describe_topics([topic])
        partition = next(p for p in described["partitions"] if p["partition_index"] == 0)
        assert len(partition["replica_nodes"]) == 3, partition
        return int(partition["leader_id"])
    finally:
        admin.close()


def test_killing_a_broker_under_load_loses_and_doubles_nothing(kafka_cluster, mongo_db, unique):
    name = f"probe_{unique}"
    settings = kafka_settings(name, kafka_bootstrap=kafka_cluster, mongo_db=mongo_db.name)
    service = probe_service.build(settings, db=mongo_db)
    kafka.ensure_topics(kafka_cluster, [service.topic, topics.dead_letters(name)])
    victim = leader_of_first_partition(kafka_cluster, service.topic)

    sweeping = {**worker_env(name, mongo_db.name, kafka_cluster), "PROBE_CONSUME_ONLY": "0"}
    consuming = worker_env(name, mongo_db.name, kafka_cluster)
    with (
        running(python_module("tests.support.probe_service"), sweeping, log_for(name, "w1")) as w1,
        running(python_module("tests.support.probe_service"), consuming, log_for(name, "w2")) as w2,
    ):
        written = 0
        lock = threading.Lock()

        def write(i: int) -> None:
            nonlocal written
            probe_service.ping(service, f"p{i}")
            with lock:
                written += 1
            time.sleep(
                PACE_S
            )  # writes keep coming through the failover (the controller fences a dead broker after ~9 s)

        with ThreadPoolExecutor(WRITERS) as pool:
            futures = [pool.submit(write, i) for i in range(N)]
            eventually(
                lambda: mongo_db.effects.count_documents({}) >= N // 4, timeout=120, what="a first quarter"
            )
            cluster("kill", str(victim))
            for future in futures:
                future.result()
        assert written == N
        eventually(
            lambda: leader_of_first_partition(kafka_cluster, service.topic) != victim,
            timeout=60,
            what="another broker to lead the partition",
        )
        eventually(
            lambda: mongo_db.effects.count_documents({}) >= N,
            timeout=240,
            what=f"all {N} pings handled after broker {victim} was killed",
        )
        assert w1.poll() is None and w2.poll() is None, "a worker died"

    handled = list(mongo_db.handled.aggregate([{"$group": {"_id": "$ping_id", "n": {"$sum": 1}}}]))
    assert len(handled) == N, "lost pings"
    assert sorted(h["_id"] for h in handled) == sorted(f"p{i}" for i in range(N))
    assert [h for h in handled if h["n"] != 1] == [], "pings handled more than once"
    assert {d["pid"] for d in mongo_db.effects.find({}, {"pid": 1})} == {w1.pid, w2.pid}, (
        "both workers consumed"
    )
    service.outbox.close()
