"""The change chain: a lost revision race is retried, a crash before folding is repaired on read."""

from __future__ import annotations

from services.assessment.repository import CHANGES, CaseRepository, Change
from shared.outbox import Outbox

from .conftest import amended, outbox, submitted


def test_writer_losing_a_revision_retries_on_top_of_the_winner(db):
    repo = CaseRepository(db, Outbox(db, "assessment", "waymark.assessment.events", inline=True))
    repo.create({"_id": "c1", "status": "active", "notes": []}, [])
    calls = []

    def mutation(doc):
        calls.append(doc["rev"])
        if len(calls) == 1:  # another writer claims revision 2 between our read and our insert
            record = CaseRepository._record("c1", 2, Change({"status": "seen"}), None)
            db[CHANGES].insert_one(record)
        return Change({}, {"notes": [f"after rev {doc['rev']}"]})

    repo.mutate("c1", mutation)
    doc = repo.get("c1")
    assert calls == [1, 2]
    assert (doc["rev"], doc["status"], doc["notes"]) == (3, "seen", ["after rev 2"])


def test_change_not_yet_folded_is_applied_by_the_next_reader(db):
    repo = CaseRepository(db, Outbox(db, "assessment", "waymark.assessment.events", inline=True))
    repo.create({"_id": "c1", "status": "active"}, [])
    db[CHANGES].insert_one(CaseRepository._record("c1", 2, Change({"status": "withdrawn"}), None))
    assert db.cases.find_one({"_id": "c1"})["status"] == "active"  # the writer "crashed" here
    assert repo.get("c1")["status"] == "withdrawn"


def test_events_ride_in_the_change_that_causes_them(db, handle):
    handle(submitted(risk_flags=["self_harm"]))
    handle(amended(risk_flags=["self_harm"], return_attempts=2))
    changes = list(db[CHANGES].find({}, {"rev": 1, "outbox": 1}).sort("rev", 1))
    assert [[e["type"].split(".")[3] for e in c["outbox"]] for c in changes] == [
        ["escalated", "triaged"],
        ["triaged"],
    ]
    assert len(outbox(db)) == 3
