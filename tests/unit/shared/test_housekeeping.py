from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared import housekeeping

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_only_entries_older_than_the_retention_are_pruned(db):
    db.processed_events.insert_many(
        [{"_id": "old", "at": NOW - timedelta(days=15)}, {"_id": "new", "at": NOW - timedelta(days=13)}]
    )
    assert housekeeping.prune(db, NOW) == {"processed_events": 1}
    assert [d["_id"] for d in db.processed_events.find()] == ["new"]
