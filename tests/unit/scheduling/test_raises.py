"""HZ-15's detective and corrective control (services/scheduling/raises.py), on fakes.

A lost write is simulated by putting back the document an overlapping writer read before the
raise (what FerretDB's read → modify → write does when the two overlap).
"""

from __future__ import annotations

import pytest

from services.scheduling import calendar_ops, duties, raises
from shared import housekeeping
from tests.support.waitlist import escalate
from tests.unit.scheduling.conftest import triaged


@pytest.fixture
def p3(service, region, db):
    db.slots.update_many({}, {"$set": {"state": "closed"}})  # no offers: the entry stays waiting
    service.handlers["assessment.triaged"](triaged("c1", "P3", version=1))
    return db.waitlist.find_one({"_id": "c1"})


def test_a_re_triage_lost_to_a_stale_write_is_put_back(service, ctx, db, p3):
    service.handlers["assessment.triaged"](triaged("c1", "P1", version=2))
    assert db[raises.COLLECTION].count_documents({"case_id": "c1", "kind": "triage"}) == 1
    db.waitlist.replace_one({"_id": "c1"}, p3)  # the overlapping writer's older document wins
    assert raises.repair(ctx) == 1
    entry = db.waitlist.find_one({"_id": "c1"})
    assert (entry["band"], entry["triage_version"]) == ("P1", 2)
    assert entry["sort_keys"]["priority"].startswith("1|0|")  # re-derived: P1's rank
    assert raises.repair(ctx) == 0


def test_an_escalation_lost_to_a_stale_write_is_put_back_by_the_leased_duty(service, ctx, db, p3):
    escalate(service, "c1", 40)
    db.waitlist.replace_one({"_id": "c1"}, p3)
    done = duties.count_step(ctx, duties.Lease())
    assert done is not None and done["raises"] == 1
    entry = db.waitlist.find_one({"_id": "c1"})
    assert entry["urgent"] and entry["sort_keys"]["priority"].startswith("0|")


def test_a_redelivery_records_nothing_new_and_a_held_raise_is_not_replayed(service, ctx, db, p3):
    service.handlers["assessment.triaged"](triaged("c1", "P1", version=2))
    service.handlers["assessment.triaged"](triaged("c1", "P1", version=2))
    escalate(service, "c1", 40)
    assert db[raises.COLLECTION].count_documents({"case_id": "c1"}) == 2
    before = db.waitlist.find_one({"_id": "c1"})
    assert raises.repair(ctx) == 0
    assert db.waitlist.find_one({"_id": "c1"}) == before


def test_a_new_family_records_nothing_and_old_records_leave_the_window(service, ctx, db, clock, p3):
    assert db[raises.COLLECTION].count_documents({}) == 0  # an insert cannot be lost
    service.handlers["assessment.triaged"](triaged("c1", "P1", version=2))
    db.waitlist.replace_one({"_id": "c1"}, p3)
    clock.advance(seconds=raises.WINDOW.total_seconds() + 1)
    assert raises.repair(ctx) == 0  # bounded: only the last WINDOW is read


def test_a_removed_entry_gets_no_raise(service, ctx, db, p3):
    escalate(service, "c1", 40)
    db.waitlist.update_one({"_id": "c1"}, {"$set": {"state": "removed", "urgent": False}})
    assert raises.repair(ctx) == 0


def test_a_record_from_an_earlier_bucket_of_the_window_is_still_read(service, ctx, db, clock, p3):
    service.handlers["assessment.triaged"](triaged("c1", "P1", version=2))
    db.waitlist.replace_one({"_id": "c1"}, p3)
    clock.advance(seconds=raises.BUCKET_S * 2)  # two buckets on, still inside the window
    assert raises.repair(ctx) == 1
    assert db.waitlist.find_one({"_id": "c1"})["band"] == "P1"


def test_refresh_eligibility_writes_from_the_entry_as_it_is_now(service, ctx, db, monkeypatch, p3):
    """Its cursor's copy is older than a re-triage handled meanwhile: the write must not carry
    the old band's derived fields (on FerretDB, not the old band itself)."""
    stale = [{**p3, "eligible_hospitals": []}]  # read before the re-triage; needs a refresh
    service.handlers["assessment.triaged"](triaged("c1", "P1", version=2))
    find = db.waitlist.find  # mongomock's find_one calls find: only the refresh's scan is stale
    monkeypatch.setattr(
        db.waitlist, "find", lambda q=None, *a, **k: iter(stale) if "state" in (q or {}) else find(q, *a, **k)
    )
    assert calendar_ops.refresh_eligibility(ctx) == 0  # the entry as it is now needs no change
    entry = db.waitlist.find_one({"_id": "c1"})
    assert entry["band"] == "P1" and entry["sort_keys"]["priority"].startswith("1|0|")


def test_a_record_that_cannot_be_replayed_does_not_stop_the_others(service, ctx, db, p3):
    service.handlers["assessment.triaged"](triaged("c1", "P1", version=2))
    db.waitlist.replace_one({"_id": "c1"}, p3)
    bad = {**db[raises.COLLECTION].find_one({"case_id": "c1"}), "_id": "c1:t0000003", "version": 3}
    bad["event"] = {**bad["event"], "specversion": "0.1"}  # unreadable: logged, skipped, retried next pass
    bad["key"] = bad["key"].replace("|c1:", "|a:")  # sorts first
    db[raises.COLLECTION].insert_one(bad)
    assert raises.repair(ctx) == 1
    assert db.waitlist.find_one({"_id": "c1"})["band"] == "P1"


def test_the_records_are_pruned_a_day_after_by_the_workers_housekeeping(service, db, clock, p3):
    """Insert-only and never read past the repair window: the collection stays small by construction."""
    service.handlers["assessment.triaged"](triaged("c1", "P1", version=2))
    clock.advance(hours=23)
    assert housekeeping.prune(db, clock(), extra=service.retained)[raises.COLLECTION] == 0
    clock.advance(hours=1, seconds=1)
    assert housekeeping.prune(db, clock(), extra=service.retained)[raises.COLLECTION] == 1
    assert db[raises.COLLECTION].count_documents({}) == 0
