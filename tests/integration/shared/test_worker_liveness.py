"""Readiness follows the worker: a real worker process stopped, frozen or killed makes /readyz fail.

The API (built in this process, as gunicorn would) and the worker (its own process, the
real ``serve_worker``) share only the heartbeat directory, as on ``make stack``.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from services.assessment.bootstrap import build
from shared import kafka, topics
from shared.events import Event, to_kafka
from shared.runtime import EXIT_DEAD_LETTER_CAP
from tests.conftest import MONGO_URI
from tests.integration.shared.test_delivery import worker_env
from tests.support import probe_service
from tests.support.processes import ROOT, eventually, python_module, running
from tests.support.secrets_env import TEST_SECRETS, kafka_settings

pytestmark = pytest.mark.integration

STALL_S = 3.0
LOGS = ROOT / ".run" / "test-logs"


def readiness(client) -> tuple[int, str]:
    response = client.get("/readyz")
    return response.status_code, response.get_json()["checks"].get("worker", "")


def test_readyz_fails_while_the_worker_is_stopped_stalled_or_dead(
    kafka_bootstrap, mongo_db, unique, tmp_path
):
    name, source_topic = f"assessment-live-{unique}", f"waymark.it-live-{unique}.events"
    kafka.ensure_topics(kafka_bootstrap, [source_topic, topics.events(name), topics.dead_letters(name)])
    heartbeats = tmp_path / "heartbeats"
    env = {
        "WAYMARK_MODE": "kafka",
        **TEST_SECRETS,
        "KAFKA_BOOTSTRAP": kafka_bootstrap,
        "MONGO_URI": MONGO_URI,
        "ASSESSMENT_DB": mongo_db.name,
        "WAYMARK_IT_SERVICE": name,
        "WAYMARK_IT_CONSUMES": source_topic,
        "WAYMARK_HEARTBEAT_DIR": str(heartbeats),
    }
    settings = kafka_settings(
        name,
        kafka_bootstrap=kafka_bootstrap,
        mongo_uri=MONGO_URI,
        mongo_db=mongo_db.name,
        heartbeat_dir=str(heartbeats),
        worker_stall_s=STALL_S,
    )
    client = build(settings).app.test_client()
    assert readiness(client) == (
        503,
        f"failing: worker not running (no heartbeat at {heartbeats / f'{name}-worker.heartbeat'})",
    )

    log = LOGS / f"{name}-worker.log"
    worker = python_module("tests.integration.assessment.isolated_worker")
    with running(worker, env, log) as proc:
        eventually(lambda: readiness(client) == (200, "ok"), timeout=45, what="the worker's first heartbeat")

        os.kill(proc.pid, signal.SIGSTOP)  # wedged: alive, but not polling
        try:
            stalled = eventually(
                lambda: readiness(client)[0] == 503 and readiness(client), timeout=STALL_S + 5, what="a stall"
            )
            assert "has not polled for" in stalled[1]
            assert readiness(client)[0] == 503  # stays failing while frozen
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        eventually(lambda: readiness(client) == (200, "ok"), timeout=10, what="recovery after the stall")

        proc.kill()  # kill -9: no chance to clean up; the heartbeat just goes stale
        proc.wait(5)
        started = time.monotonic()
        eventually(lambda: readiness(client)[0] == 503, timeout=STALL_S + 5, what="the dead worker to show")
        assert time.monotonic() - started <= STALL_S + 5

    with running(worker, env, log) as proc:  # a fresh worker: ready again, no manual step on the API
        eventually(lambda: readiness(client) == (200, "ok"), timeout=45, what="the restarted worker")
        proc.send_signal(signal.SIGTERM)  # a clean stop says so at once
        proc.wait(20)
        assert readiness(client)[0] == 503
        assert "worker not running" in readiness(client)[1]


def test_without_a_heartbeat_dir_the_api_does_not_check_a_worker(kafka_bootstrap, mongo_db, unique):
    settings = kafka_settings(
        f"assessment-nolive-{unique}",
        kafka_bootstrap=kafka_bootstrap,
        mongo_uri=MONGO_URI,
        mongo_db=mongo_db.name,
    )
    response = build(settings).app.test_client().get("/readyz")
    assert "worker" not in response.get_json()["checks"]


def test_a_worker_at_its_dead_letter_cap_stays_stopped_and_readiness_says_so(
    kafka_bootstrap, mongo_db, unique, tmp_path
):
    """Exit 78, which the supervisor does not restart: each restart would dead-letter `cap` more events."""
    name = f"probe_cap_{unique}"
    topic = topics.events(name)
    kafka.ensure_topics(kafka_bootstrap, [topic, topics.dead_letters(name)])
    heartbeats = tmp_path / "heartbeats"
    env = worker_env(
        name,
        mongo_db.name,
        kafka_bootstrap,
        WAYMARK_DEAD_LETTER_CAP="2",
        WAYMARK_HEARTBEAT_DIR=str(heartbeats),
    )
    settings = kafka_settings(
        name,
        kafka_bootstrap=kafka_bootstrap,
        mongo_db=mongo_db.name,
        heartbeat_dir=str(heartbeats),
        worker_stall_s=60,
    )
    api = probe_service.build(settings, db=mongo_db).app.test_client()
    publisher = kafka.KafkaPublisher(kafka_bootstrap, f"it-{unique}")
    try:
        with running(python_module("tests.support.probe_service"), env, LOGS / f"{name}-cap.log") as proc:
            eventually(lambda: readiness(api) == (200, "ok"), timeout=45, what="the worker's first heartbeat")
            for n in range(5):  # more poison than the cap allows
                event = Event(
                    probe_service.PINGED,
                    f"/services/{name}",
                    f"bad-{n}",
                    {"ping_id": f"bad-{n}", "poison": True},
                )
                publisher.send(topic, *to_kafka(event))
            assert proc.wait(60) == EXIT_DEAD_LETTER_CAP
        status, check = readiness(api)
        assert status == 503 and "worker not running" in check
    finally:
        publisher.close()
