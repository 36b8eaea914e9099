from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta

from shared import housekeeping
from shared.memory_bus import MemoryBus
from shared.runtime import embedded_workers
from tests.support import probe_service
from tests.support.processes import eventually

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_only_entries_older_than_the_retention_are_pruned(db):
    db.processed_events.insert_many(
        [{"_id": "old", "at": NOW - timedelta(days=15)}, {"_id": "new", "at": NOW - timedelta(days=13)}]
    )
    assert housekeeping.prune(db, NOW) == {"processed_events": 1, "processed_batches": 0}
    assert [d["_id"] for d in db.processed_events.find()] == ["new"]


def test_a_service_registers_its_own_collections_with_their_field_and_retention(db):
    db.idempotency.insert_many(
        [
            {"_id": "old", "created_at": NOW - timedelta(hours=25)},
            {"_id": "new", "created_at": NOW - timedelta(hours=23)},
        ]
    )
    db.processed_events.insert_one({"_id": "kept", "at": NOW - timedelta(days=2)})
    rules = [housekeeping.Retention("idempotency", "created_at", timedelta(hours=24))]
    assert housekeeping.prune(db, NOW, extra=rules) == {
        "processed_events": 0,
        "processed_batches": 0,
        "idempotency": 1,
    }
    assert [d["_id"] for d in db.idempotency.find()] == ["new"]
    assert [d["_id"] for d in db.processed_events.find()] == ["kept"]  # still its own 14 days


class OnePass(threading.Event):
    """Stops the duty after its first pass instead of waiting an hour."""

    def wait(self, timeout: float | None = None) -> bool:
        self.set()
        return True


def test_the_worker_duty_prunes_registered_collections_by_its_clock(db):
    clock = [NOW]
    db.claims.insert_many([{"_id": "a", "at": NOW - timedelta(days=3)}, {"_id": "b", "at": NOW}])
    run = housekeeping.duty(
        db, clock=lambda: clock[0], extra=[housekeeping.Retention("claims", "at", timedelta(days=2))]
    )
    run(OnePass())
    assert [d["_id"] for d in db.claims.find()] == ["b"]
    clock[0] = NOW + timedelta(days=2, seconds=1)  # b is now past its retention too
    run(OnePass())
    assert db.claims.count_documents({}) == 0


def test_the_worker_runs_the_services_registrations(settings, db):
    service = dataclasses.replace(
        probe_service.build(settings, db=db),
        retained=[housekeeping.Retention("claims", "at", timedelta(days=1))],
    )
    db.claims.insert_one({"_id": "ancient", "at": datetime(2000, 1, 1, tzinfo=UTC)})
    [worker] = embedded_workers([service], MemoryBus())
    worker.start()
    try:
        eventually(lambda: db.claims.count_documents({}) == 0, timeout=5, what="claims pruned")
    finally:
        worker.stop()
