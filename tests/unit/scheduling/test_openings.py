"""Weeks found without an open slot are not read again until a slot opens (services/scheduling/openings.py)."""

from __future__ import annotations

from services.scheduling import booking, claims, openings, waitlist

from .conftest import triaged


def _offered_slot(db, case_id: str) -> dict:
    offer = db.offers.find_one({"case_id": case_id})
    assert offer is not None, f"{case_id} got no offer"
    return db.slots.find_one({"_id": offer["slot_id"]})


def test_empty_weeks_are_skipped_until_a_slot_opens(ctx, db, region):
    weeks = sorted({s["week"] for s in db.slots.find({"state": "open", "kind": "intake"})})
    last = weeks[-1]
    db.slots.update_many(
        {"state": "open", "kind": "intake", "week": {"$ne": last}}, {"$set": {"state": "held"}}
    )
    waitlist.on_triaged(ctx, triaged("c1"))
    first = _offered_slot(db, "c1")
    assert first["week"] == last
    early = db.slots.find_one(
        {"state": "held", "week": weeks[2], "hospital_id": first["hospital_id"], "weekday": first["weekday"]}
    )
    assert early is not None
    # Opened without saying so: this process still remembers the week as empty (the skip is real).
    db.slots.update_one({"_id": early["_id"]}, {"$set": {"state": "open"}})
    waitlist.on_triaged(ctx, triaged("c2"))
    assert _offered_slot(db, "c2")["week"] == last
    openings.opened(ctx)  # what every opener does after its write
    waitlist.on_triaged(ctx, triaged("c3"))
    assert _offered_slot(db, "c3")["_id"] == early["_id"]


def test_a_released_slot_is_seen_by_the_next_family(ctx, db, region):
    weeks = sorted({s["week"] for s in db.slots.find({"state": "open", "kind": "intake"})})
    db.slots.update_many(
        {"state": "open", "kind": "intake", "week": {"$ne": weeks[-1]}}, {"$set": {"state": "held"}}
    )
    waitlist.on_triaged(ctx, triaged("c1"))
    first = _offered_slot(db, "c1")
    early = db.slots.find_one(
        {"state": "held", "week": weeks[2], "hospital_id": first["hospital_id"], "weekday": first["weekday"]}
    )
    claims.take(ctx, f"slot:{early['_id']}", "appt-x", "")
    db.slots.update_one({"_id": early["_id"]}, {"$set": {"state": "booked", "appointment_id": "appt-x"}})
    booking.release(ctx, early["_id"], None, owner="appt-x")  # offers it region-wide, as a cancellation does
    taken = db.offers.find_one({"slot_id": early["_id"], "state": "pending"})
    if taken is None:  # nobody waiting could take it: the next family must see it
        waitlist.on_triaged(ctx, triaged("c2"))
        assert _offered_slot(db, "c2")["_id"] == early["_id"]
    else:
        assert taken["case_id"] != "c1"  # c1 holds an open offer already


def test_a_finding_made_under_an_older_token_is_not_remembered():
    memory = openings.EmptyWeeks()
    key = ("school_refusal", ("bch",), False)
    assert memory.known("t1", key) == frozenset()
    memory.remember("t1", key, "2025-W10")
    assert memory.known("t1", key) == {"2025-W10"}
    assert memory.known("t2", key) == frozenset()  # a slot opened: everything is forgotten
    memory.remember("t1", key, "2025-W11")  # a reader that took t1 before the opening
    assert memory.known("t2", key) == frozenset()
