"""Noting the hospitals that hold cases: one insert per hospital per process, not per referral."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.assessment import tasks as tasks_module
from services.assessment.config import AssessmentConfig
from services.assessment.repository import CaseRepository
from shared.outbox import Outbox


class CountingDb:
    """The unit store, counting inserts into the held-hospitals collection."""

    def __init__(self, db: Any) -> None:
        self.db, self.inserts = db, 0

    def __getitem__(self, name: str) -> Any:
        collection = self.db[name]
        if name != tasks_module.HELD:
            return collection
        outer = self

        class Counting:
            def insert_one(self, doc: dict[str, Any]) -> Any:
                outer.inserts += 1
                return collection.insert_one(doc)

            def __getattr__(self, attr: str) -> Any:
                return getattr(collection, attr)

        return Counting()


def test_a_hospital_is_inserted_once_then_remembered(db):
    counting = CountingDb(db)
    outbox = Outbox(db, "assessment", "waymark.assessment.events", inline=True)
    tasks = tasks_module.Tasks(
        counting,  # type: ignore[arg-type]
        CaseRepository(db, outbox),
        outbox,
        AssessmentConfig(),
        lambda: datetime(2026, 12, 1, tzinfo=UTC),
    )
    for hospital in ["bch", "bch", "hdm", "bch", None]:
        tasks.note_hospital(hospital)
    assert sorted(d["_id"] for d in db[tasks_module.HELD].find({})) == ["bch", "hdm"]
    assert counting.inserts == 2


def test_a_hospital_stored_by_another_process_is_remembered_after_one_try(db):
    db[tasks_module.HELD].insert_one({"_id": "bch"})
    counting = CountingDb(db)
    outbox = Outbox(db, "assessment", "waymark.assessment.events", inline=True)
    tasks = tasks_module.Tasks(
        counting,  # type: ignore[arg-type]
        CaseRepository(db, outbox),
        outbox,
        AssessmentConfig(),
        lambda: datetime(2026, 12, 1, tzinfo=UTC),
    )
    tasks.note_hospital("bch")
    tasks.note_hospital("bch")
    assert counting.inserts == 1
