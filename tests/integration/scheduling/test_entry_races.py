"""HZ-15 on the real store: a raise of a waitlisted child's priority racing another writer of the entry.

FerretDB 1.x applies every update as read → modify → write of the whole document, and
``calendar_ops.refresh_eligibility`` writes entries from a read taken before its loop, so a
re-triage (band P3 → P1) or an escalation (``urgent``) handled while it runs can be
overwritten by the older document. The control (services/scheduling/raises.py) records
every raise the consumer applied and its repair pass re-applies any raise an entry lost.
"""

from __future__ import annotations

import pytest

from services.scheduling import calendar_ops, duties, raises
from tests.support.concurrency import race
from tests.support.waitlist import escalate
from tests.unit.scheduling.conftest import triaged

pytestmark = pytest.mark.integration
ROUNDS = 10
CASES = 6


@pytest.fixture
def scheduling(scheduling, mongo_db):
    mongo_db.slots.update_many({}, {"$set": {"state": "closed"}})  # nobody is offered: the raise is all
    return scheduling


def _lost(db, cases: list[str]) -> list[str]:
    """The cases whose entry does not hold its raise (P1 at triage version 2, and urgent)."""
    lost = []
    for case in cases:
        doc = db.waitlist.find_one({"_id": case})
        if doc["band"] != "P1" or doc["triage_version"] != 2 or not doc.get("urgent"):
            lost.append(case)
    return lost


def test_a_raise_racing_refresh_eligibility_is_kept(scheduling, mongo_db):
    """Each round: CASES entries at P3, then their re-triage to P1 and an escalation on the
    consumer's path, released together with a refresh of eligibility that must write them
    all (their hospitals were cleared). Lost raises before the repair are reported; after one
    repair pass none may be left."""
    service, ctx = scheduling
    all_cases: list[str] = []
    lost_before = 0
    for r in range(ROUNDS):
        cases = [f"r{r}c{n}" for n in range(CASES)]
        for case in cases:
            service.handlers["assessment.triaged"](triaged(case, "P3", version=1))
        mongo_db.waitlist.update_many({"_id": {"$in": cases}}, {"$set": {"eligible_hospitals": []}})

        def attempt(k: int, cases: list[str] = cases) -> None:
            if k == 0:
                calendar_ops.refresh_eligibility(ctx)
                return
            case = cases[k - 1]
            service.handlers["assessment.triaged"](triaged(case, "P1", version=2))
            escalate(service, case, 40)

        race(CASES + 1, attempt, lost=RuntimeError)
        lost_before += len(_lost(mongo_db, cases))
        all_cases += cases
    print(f"HZ-15: raises lost to the race before repair: {lost_before}/{ROUNDS * CASES}")
    done = duties.count_step(ctx, duties.Lease())  # the leased duty's pass runs the repair
    assert done is not None and done["raises"] >= lost_before
    assert _lost(mongo_db, all_cases) == []
    # A second pass finds nothing to do: the repair is a no-op on entries that hold their raise.
    assert raises.repair(ctx) == 0
