"""`deploy/infra.sh stop` then `start` keeps every document, topic and committed offset.

The runbooks tell an operator to start the broker or store again after an outage; that
start used to wipe both unless WAYMARK_*_KEEP_DATA=1 was set. Wiping is now only
``deploy/infra.sh reset`` (``make infra-reset``).
"""

from __future__ import annotations

import os
import subprocess

import pytest
from kafka import KafkaConsumer, TopicPartition

from shared import kafka
from tests.support.processes import ROOT, eventually

pytestmark = pytest.mark.disruptive

INFRA_SH = str(ROOT / "deploy" / "infra.sh")


def infra(action: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_KEEP_DATA")}  # the default, nothing else
    subprocess.run([INFRA_SH, action], env=env, check=True, timeout=240)


def test_a_restart_keeps_documents_topics_and_offsets(kafka_bootstrap, mongo_db, unique):
    topic, group = f"waymark.it-keep-{unique}.events", f"it-keep-{unique}"
    kafka.ensure_topics(kafka_bootstrap, [topic], partitions=1)
    publisher = kafka.KafkaPublisher(kafka_bootstrap, f"it-keep-{unique}")
    try:
        for n in range(3):
            publisher.send(topic, b"k", f"record-{n}".encode(), [])
    finally:
        publisher.close()
    source = kafka.KafkaSource(kafka_bootstrap, group, [topic], f"it-keep-{unique}")
    try:
        first = eventually(lambda: source.poll(1.0), timeout=30, what="the records")
        source.commit(first[:1])  # one handled, two left for later
    finally:
        source.close()
    mongo_db.kept.insert_one({"_id": "doc", "n": 1})

    infra("stop")
    infra("start")

    assert mongo_db.client.get_database(mongo_db.name).kept.find_one({"_id": "doc"}) == {"_id": "doc", "n": 1}
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
    try:
        tp = TopicPartition(topic, 0)
        assert eventually(lambda: consumer.end_offsets([tp])[tp], timeout=60, what="the topic's end") == 3
        assert consumer.committed(tp) == 1
    finally:
        consumer.close()
