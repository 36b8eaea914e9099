"""Delivery guarantees over the real broker and store, with the consumer in another process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from shared import dlq, kafka, topics
from shared.inbox import Inbox
from tests.conftest import MONGO_URI
from tests.support import probe_service
from tests.support.processes import ROOT, eventually, python_module, running
from tests.support.secrets_env import TEST_SECRETS, kafka_settings

LOGS = ROOT / ".run" / "test-logs"


def worker_env(name: str, db_name: str, bootstrap: str, **extra: str) -> dict[str, str]:
    return {
        "WAYMARK_MODE": "kafka",
        **TEST_SECRETS,
        "PROBE_NAME": name,
        f"{name.upper()}_DB": db_name,
        "KAFKA_BOOTSTRAP": bootstrap,
        "MONGO_URI": MONGO_URI,
        "PROBE_CONSUME_ONLY": "1",
        "WAYMARK_CONSUMER_MAX_ATTEMPTS": "3",
        "WAYMARK_CONSUMER_BACKOFF_S": "0.05",
        **extra,
    }


@pytest.fixture
def probe(kafka_bootstrap, mongo_db, unique):
    """The probe service in this process (a writer that publishes its own events) and its name."""
    name = f"probe_{unique}"
    settings = kafka_settings(name, kafka_bootstrap=kafka_bootstrap, mongo_db=mongo_db.name)
    service = probe_service.build(settings, db=mongo_db)
    kafka.ensure_topics(kafka_bootstrap, [service.topic, topics.dead_letters(name)])
    yield name, service
    service.outbox.close()


def published(service) -> None:
    """Wait for the writer's dispatcher to have sent everything written so far."""
    service.outbox.flush()


def read_topic(bootstrap: str, topic: str, count: int) -> list:
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=15_000
    )
    records = []
    for record in consumer:
        records.append(record)
        if len(records) >= count:
            break
    consumer.close()
    return records


def log_for(name: str, what: str) -> Path:
    return LOGS / f"{name}-{what}.log"


def test_outbox_event_reaches_a_consumer_in_another_process(probe, kafka_bootstrap, mongo_db):
    name, service = probe
    env = worker_env(name, mongo_db.name, kafka_bootstrap)
    with running(python_module("tests.support.probe_service"), env, log_for(name, "worker")) as worker:
        event = probe_service.ping(service, "p1", correlation_id="corr-it-1")
        published(service)
        effect = eventually(lambda: mongo_db.effects.find_one({"ping_id": "p1"}), what="effect in FerretDB")
        assert effect["pid"] == worker.pid
    [record] = read_topic(kafka_bootstrap, service.topic, 1)
    headers = {k: v.decode() for k, v in record.headers}
    assert record.key == b"p1"
    assert headers["ce_id"] == event.id
    assert headers["ce_correlationid"] == "corr-it-1"
    assert json.loads(record.value) == {"ping_id": "p1", "poison": False}
    assert mongo_db.outbox_pending.count_documents({}) == 0  # the writer published and forgot its intent


def test_a_consumer_killed_before_commit_gets_the_event_again_and_applies_it_once(
    probe, kafka_bootstrap, mongo_db
):
    name, service = probe
    env = worker_env(name, mongo_db.name, kafka_bootstrap)
    event = probe_service.ping(service, "p1")
    published(service)
    crashing = {**env, "PROBE_CRASH_AFTER_EFFECT": "1"}
    with running(python_module("tests.support.probe_service"), crashing, log_for(name, "crash")) as proc:
        eventually(lambda: proc.poll() is not None, what="the worker to die after the effect")
        assert proc.returncode == 17
    first = mongo_db.effects.find_one({"ping_id": "p1"})
    assert first is not None
    assert not Inbox(mongo_db).handled(event.dedupe_key)  # died before completing its batch and committing

    with running(python_module("tests.support.probe_service"), env, log_for(name, "restart")) as second:
        eventually(
            lambda: Inbox(mongo_db).handled(event.dedupe_key),
            what="the redelivered event to be handled",
        )
        assert second.poll() is None
    assert mongo_db.effects.count_documents({"ping_id": "p1"}) == 1
    assert mongo_db.tallies.find_one({"_id": "total"})["n"] == 1


def test_a_poison_event_lands_in_the_dead_letter_topic_after_n_attempts(probe, kafka_bootstrap, mongo_db):
    name, service = probe
    env = worker_env(name, mongo_db.name, kafka_bootstrap)
    with running(python_module("tests.support.probe_service"), env, log_for(name, "worker")):
        poison = probe_service.ping(service, "bad", poison=True)
        probe_service.ping(service, "good")
        published(service)
        eventually(lambda: mongo_db.effects.find_one({"ping_id": "good"}), what="the good ping after poison")
        # "good" and "bad" sit on different partitions: wait for the dead letter before stopping.
        [dead] = read_topic(kafka_bootstrap, topics.dead_letters(name), 1)
    headers = {k: v.decode() for k, v in dead.headers}
    assert headers["ce_id"] == poison.id
    assert headers["dlq_attempts"] == "3"
    assert headers["dlq_topic"] == service.topic
    assert "poison" in headers["dlq_reason"]
    assert mongo_db.effects.count_documents({"ping_id": "bad"}) == 0


def test_dead_letters_replay_to_their_origin_once(probe, kafka_bootstrap, mongo_db):
    name, service = probe
    env = worker_env(name, mongo_db.name, kafka_bootstrap)
    with running(python_module("tests.support.probe_service"), env, log_for(name, "worker")):
        poison = probe_service.ping(service, "bad", poison=True)
        published(service)
        read_topic(kafka_bootstrap, topics.dead_letters(name), 1)
    [listed] = dlq.list_dead_letters(kafka_bootstrap, topics.dead_letters(name))
    assert listed["event_id"] == poison.id
    assert dlq.replay(kafka_bootstrap, topics.dead_letters(name)) == 1
    assert dlq.replay(kafka_bootstrap, topics.dead_letters(name)) == 0
    origin = read_topic(kafka_bootstrap, service.topic, 2)
    assert [dict(r.headers)["ce_id"].decode() for r in origin] == [poison.id, poison.id]
    assert not any(k.startswith("dlq_") for k, _ in origin[1].headers)
