"""The store serves `_id` and declared-index equality lookups from an index (ADR 0004).

Indexes are declared the way every service declares them (shared.store.ensure_indexes); the
companion GIN indexes of deploy/postgres/ferretdb-indexes.sql must make PostgreSQL answer
FerretDB's pushed-down filters with an index scan. On FerretDB/SQLite these tests skip and say
why (its plans are SCAN for everything); CI runs the default store, FerretDB on PostgreSQL.
"""

from __future__ import annotations

import pytest
from pymongo import ASCENDING, DESCENDING

from shared.store import Index, ensure_indexes
from tests.support.plans import PlansUnavailable, assert_index_used, uses_index

N = 1_000  # enough rows that a scan is dearer than an index to the planner

INDEXES = {
    "cases": [
        Index([("case_id", ASCENDING)], unique=True, name="case_id"),
        Index([("hospital_id", ASCENDING), ("band", ASCENDING), ("referred_at", DESCENDING)], name="queue"),
        Index([("school_ids", ASCENDING)], name="schools"),
    ]
}


@pytest.fixture
def cases(mongo_db):
    ensure_indexes(mongo_db, INDEXES)
    mongo_db.cases.insert_many(
        [
            {
                "_id": f"c-{i:05d}",
                "case_id": f"case-{i:05d}",
                "hospital_id": f"H{i % 50}",
                "band": ("P1", "P2", "P3")[i % 3],
                "referred_at": i,
                "school_ids": [f"S{i % 97}", f"S{(i + 1) % 97}"],
                "note": f"note {i}",
            }
            for i in range(N)
        ]
    )
    return mongo_db


def test_lookup_by_id_uses_an_index(cases):
    assert_index_used(cases, "cases", {"_id": "c-00777"})
    assert cases.cases.find_one({"_id": "c-00777"})["case_id"] == "case-00777"


def test_equality_on_a_unique_declared_index_uses_an_index(cases):
    assert_index_used(cases, "cases", {"case_id": "case-00123"})


def test_equality_on_the_first_field_of_a_compound_index_uses_an_index(cases):
    assert_index_used(cases, "cases", {"hospital_id": "H7"})
    assert cases.cases.count_documents({"hospital_id": "H7"}) == N // 50


def test_membership_in_an_indexed_array_uses_an_index(cases):
    assert_index_used(cases, "cases", {"school_ids": "S5"})
    assert cases.cases.count_documents({"school_ids": "S5"}) == len(
        [i for i in range(N) if 5 in (i % 97, (i + 1) % 97)]
    )


def test_a_field_without_a_declared_index_is_reported_as_a_scan(cases):
    """The control: the check sees a full scan when there is one (it can fail)."""
    try:
        used, plan = uses_index(cases, "cases", {"note": "note 5"})
    except PlansUnavailable as exc:
        pytest.skip(str(exc))
    assert not used, plan
    assert "Seq Scan" in plan or "COLLSCAN" in plan
