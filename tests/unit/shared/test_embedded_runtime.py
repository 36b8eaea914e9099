"""The whole mechanism in one process: outbox → relay → in-process bus → consumer → effect."""

from __future__ import annotations

import pytest

from shared.memory_bus import MemoryBus
from shared.runtime import embedded_workers
from tests.support import probe_service
from tests.support.processes import eventually


@pytest.fixture
def running_probe(settings, db):
    bus = MemoryBus()
    service = probe_service.build(settings, db=db)
    [worker] = embedded_workers([service], bus)
    worker.start()
    yield service, bus
    worker.stop()


def test_a_ping_is_relayed_consumed_and_applied_once(running_probe):
    service, _ = running_probe
    probe_service.ping(service, "p1", correlation_id="corr-1")
    effect = eventually(lambda: service.db.effects.find_one({"ping_id": "p1"}), timeout=5, what="effect")
    assert effect["_id"].startswith("/services/probe:")
    assert service.db.outbox_pending.count_documents({}) == 0  # published by the writer itself
    assert service.db.tallies.find_one({"_id": "total"})["n"] == 1


def test_poison_is_dead_lettered_and_the_loop_goes_on(running_probe, settings):
    service, bus = running_probe
    probe_service.ping(service, "bad", poison=True)
    probe_service.ping(service, "good")
    eventually(lambda: service.db.effects.find_one({"ping_id": "good"}), timeout=5, what="good effect")
    [dead] = bus.records("waymark.probe.dlq")
    assert dead.key == b"bad"
    assert dead.header("dlq_attempts") == str(settings.consumer.max_attempts)
