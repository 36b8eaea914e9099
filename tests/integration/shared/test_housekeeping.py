"""Pruning runs as FerretDB executes it (date comparison in delete_many)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared import housekeeping


def test_pruning_on_ferretdb_keeps_recent_entries(mongo_db):
    now = datetime.now(UTC)
    mongo_db.processed_events.insert_many(
        [{"_id": "old", "at": now - timedelta(days=30)}, {"_id": "new", "at": now - timedelta(minutes=1)}]
    )
    assert housekeeping.prune(mongo_db, now) == {"processed_events": 1, "processed_batches": 0}
    assert [d["_id"] for d in mongo_db.processed_events.find()] == ["new"]
