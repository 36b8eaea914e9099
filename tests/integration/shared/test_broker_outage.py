"""The broker dies and comes back: readiness reports it, and no event written meanwhile is lost."""

from __future__ import annotations

import os
import subprocess

import pytest

from shared import kafka, topics
from tests.integration.shared.test_delivery import log_for, worker_env
from tests.support import probe_service
from tests.support.processes import ROOT, eventually, python_module, running
from tests.support.secrets_env import kafka_settings

pytestmark = pytest.mark.disruptive

KAFKA_SH = str(ROOT / "deploy" / "kafka.sh")


def kafka_script(action: str) -> None:
    env = dict(os.environ)  # start keeps topics and offsets (deploy/kafka.sh)
    subprocess.run([KAFKA_SH, action], env=env, check=True, timeout=180)


def test_readyz_fails_while_kafka_is_down_and_pending_events_survive(kafka_bootstrap, mongo_db, unique):
    name = f"probe_{unique}"
    settings = kafka_settings(name, kafka_bootstrap=kafka_bootstrap, mongo_db=mongo_db.name)
    service = probe_service.build(settings, db=mongo_db)
    kafka.ensure_topics(kafka_bootstrap, [service.topic, topics.dead_letters(name)])
    api = service.app.test_client()
    assert api.get("/readyz").status_code == 200

    # The worker relays and consumes; it must ride out the outage on its own.
    env = {**worker_env(name, mongo_db.name, kafka_bootstrap), "PROBE_CONSUME_ONLY": "0"}
    with running(python_module("tests.support.probe_service"), env, log_for(name, "outage")) as worker:
        probe_service.ping(service, "before")
        eventually(lambda: mongo_db.effects.find_one({"ping_id": "before"}), what="effect before outage")
        try:
            kafka_script("stop")
            down = api.get("/readyz")
            assert down.status_code == 503
            assert down.get_json()["checks"]["kafka"].startswith("failing")
            assert down.get_json()["checks"]["store"] == "ok"
            probe_service.ping(service, "during")  # written while the broker is away
        finally:
            kafka_script("start")
        eventually(lambda: api.get("/readyz").status_code == 200, what="readiness to recover")
        eventually(
            lambda: mongo_db.effects.find_one({"ping_id": "during"}),
            timeout=90,
            what="the event written during the outage to be relayed and handled",
        )
        assert worker.poll() is None
        eventually(
            lambda: mongo_db.outbox_pending.count_documents({}) == 0, timeout=90, what="no intent left behind"
        )
    assert mongo_db.effects.count_documents({}) == 2
    service.outbox.close()
