"""FerretDB's PostgreSQL goes away and comes back: consumers wait for it, nothing is dead-lettered.

FerretDB stays up, so pymongo sees no connection failure: every command fails with
OperationFailure code 1 ("failed to connect to ..."). The consumer used to count that as
a handler failure, dead-letter the event after its attempts and then stop at the dead-letter
cap: referral's timeline events were lost that way and cases stayed "submitted" while
scheduling had waitlisted them (issue 11, item 9).
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from shared import kafka, store, topics
from shared.events import Event, to_kafka
from tests.integration.shared.test_delivery import log_for, read_topic, worker_env
from tests.support import probe_service
from tests.support.processes import ROOT, eventually, python_module, running

pytestmark = pytest.mark.disruptive

POSTGRES_SH = str(ROOT / "deploy" / "postgres.sh")


def postgres(action: str) -> None:
    env = dict(os.environ)  # start keeps the cluster (deploy/postgres.sh)
    subprocess.run([POSTGRES_SH, action], env=env, check=True, timeout=180)


@pytest.fixture
def postgres_backend() -> None:
    if os.environ.get("FERRETDB_BACKEND", "postgresql") != "postgresql":
        pytest.skip("FerretDB runs on SQLite here: no separate storage process to stop")


def test_a_storage_outage_is_waited_out_not_dead_lettered(
    postgres_backend, kafka_bootstrap, mongo_db, unique
):
    name = f"probe_pg_{unique}"
    topic, dlq = topics.events(name), topics.dead_letters(name)
    kafka.ensure_topics(kafka_bootstrap, [topic, dlq])
    publisher = kafka.KafkaPublisher(kafka_bootstrap, f"it-{unique}")
    env = worker_env(name, mongo_db.name, kafka_bootstrap)  # 3 attempts, 0.05 s backoff: dead in < 1 s

    def send(ping_id: str) -> None:
        event = Event(
            probe_service.PINGED, f"/services/{name}", ping_id, {"ping_id": ping_id, "poison": False}
        )
        publisher.send(topic, *to_kafka(event))

    try:
        with running(python_module("tests.support.probe_service"), env, log_for(name, "pg-outage")) as worker:
            send("before")
            eventually(lambda: mongo_db.effects.find_one({"ping_id": "before"}), what="the effect before")
            postgres("stop")
            try:
                with pytest.raises(Exception) as raised:
                    mongo_db.effects.find_one({"ping_id": "before"})
                assert store.unavailable(raised.value), repr(raised.value)  # the markers match the real text
                send("during")
                time.sleep(5)  # many times what 3 attempts take: the old loop had dead-lettered it by now
                assert worker.poll() is None
            finally:
                postgres("start")
            eventually(
                lambda: mongo_db.effects.find_one({"ping_id": "during"}),
                timeout=60,
                what="the event sent during the outage to be handled once the storage is back",
            )
            assert worker.poll() is None
        assert read_topic(kafka_bootstrap, dlq, 0) == []
    finally:
        publisher.close()
