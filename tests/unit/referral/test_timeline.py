"""Other services' events drive the status timeline, idempotently and tolerant of reordering."""

from __future__ import annotations

import time

from services.referral.domain import status as st
from shared.events import Event, event_type, to_kafka
from shared.runtime import embedded_workers
from tests.unit.referral.conftest import incoming, outbox_events


def handle(service, event: Event) -> None:
    service.handlers[event.name](event)


def status_of(client, headers, case_id) -> str:
    return client.get(f"/v1/referrals/{case_id}", headers=headers).json["status"]


def test_the_whole_pathway(service, client, school_a, submit, db):
    case_id = submit()
    pathway = [
        (
            incoming("assessment.triaged", case_id, "/services/assessment", band="P2", target_days=28),
            "triaged",
        ),
        (
            incoming("waitlist.entry_added", case_id, band="P2", target_date="2025-04-09", hospitals=["bch"]),
            "waitlisted",
        ),
        (
            incoming(
                "waitlist.offer_made",
                case_id,
                offer_id="o1",
                hospital_id="bch",
                kind="intake",
                slot_start="2025-03-20T09:00:00Z",
            ),
            "offered",
        ),
        (
            incoming(
                "appointment.booked",
                case_id,
                appointment_id="a1",
                hospital_id="bch",
                kind="intake",
                start="2025-03-20T09:00:00Z",
                end="2025-03-20T09:30:00Z",
            ),
            "booked",
        ),
        (
            incoming(
                "appointment.attended",
                case_id,
                appointment_id="a1",
                hospital_id="bch",
                kind="intake",
                start="2025-03-20T09:00:00Z",
            ),
            "seen",
        ),
        (incoming("returnplan.updated", case_id, "/services/assessment", weeks=[]), "in_follow_up"),
        (
            incoming(
                "followup.relapse_detected", case_id, "/services/assessment", weeks_below=["2025-04-07"]
            ),
            "in_follow_up",
        ),
        (incoming("followup.discharged", case_id, "/services/assessment", reason="goals_met"), "discharged"),
    ]
    for event, expected in pathway:
        handle(service, event)
        assert status_of(client, school_a, case_id) == expected, event.name
    case = db.cases.find_one({"_id": case_id})  # the stored, full timeline (the school sees a projection)
    kinds = [e["kind"] for e in sorted(case["timeline"], key=lambda e: e["at"])]
    assert kinds == [
        "submitted",
        "triaged",
        "waitlisted",
        "offered",
        "booked",
        "attended",
        "return_plan_updated",
        "relapse_detected",
        "discharged",
    ]
    assert sorted(case["timeline"], key=lambda e: e["at"])[4]["detail"]["hospital_id"] == "bch"
    changes = [e["data"]["status"] for e in outbox_events(db, "referral.status_changed")]
    assert changes == [
        "submitted",
        "triaged",
        "waitlisted",
        "offered",
        "booked",
        "seen",
        "in_follow_up",
        "discharged",
    ]
    [case] = db.cases.find()  # discharged: the child may be referred again
    assert case["child_slot"] == f"case:{case['_id']}"


def test_redelivered_events_change_nothing(service, client, school_a, submit, db):
    case_id = submit()
    triaged = incoming("assessment.triaged", case_id, "/services/assessment", band="P1")
    for _ in range(3):
        handle(service, triaged)
    case = db.cases.find_one({"_id": case_id})
    assert [e["kind"] for e in case["timeline"]] == ["submitted", "triaged"]
    assert len(outbox_events(db, "referral.status_changed")) == 2


def test_out_of_order_events_never_move_the_status_back(service, client, school_a, submit, db):
    case_id = submit()
    handle(service, incoming("appointment.booked", case_id, hospital_id="bch", kind="intake"))
    handle(service, incoming("assessment.triaged", case_id, "/services/assessment", band="P2"))
    handle(service, incoming("waitlist.entry_added", case_id, band="P2"))
    assert status_of(client, school_a, case_id) == "booked"
    assert len(db.cases.find_one({"_id": case_id})["timeline"]) == 4


def test_a_cancelled_intake_returns_the_case_to_the_waitlist(service, client, school_a, submit):
    case_id = submit()
    handle(service, incoming("appointment.booked", case_id, hospital_id="bch", kind="intake"))
    handle(
        service, incoming("appointment.cancelled", case_id, hospital_id="bch", kind="intake", reason="clinic")
    )
    assert status_of(client, school_a, case_id) == "waitlisted"
    handle(service, incoming("appointment.rescheduled", case_id, hospital_id="bch", kind="intake"))
    assert status_of(client, school_a, case_id) == "booked"


def test_follow_up_appointments_are_notes(service, client, school_a, submit):
    case_id = submit()
    handle(service, incoming("returnplan.updated", case_id, "/services/assessment", weeks=[]))
    handle(service, incoming("appointment.booked", case_id, hospital_id="bch", kind="follow_up"))
    handle(service, incoming("appointment.no_show", case_id, hospital_id="bch", kind="follow_up"))
    assert status_of(client, school_a, case_id) == "in_follow_up"


def test_closed_cases_do_not_move(service, client, school_a, submit):
    case_id = submit()
    client.post(f"/v1/referrals/{case_id}/withdraw", json={"reason": "family_declined"}, headers=school_a)
    handle(service, incoming("waitlist.entry_added", case_id, band="P3"))
    assert status_of(client, school_a, case_id) == "withdrawn"


def test_events_for_unknown_cases_are_ignored(service):
    handle(service, incoming("assessment.triaged", "c_unknown", "/services/assessment", band="P1"))


def test_next_status_rules():
    booked = st.step_for("appointment.booked", {"kind": "intake"}, "t")
    cancelled = st.step_for("appointment.cancelled", {"kind": "intake"}, "t")
    assert st.next_status("submitted", booked) == "booked"
    assert st.next_status("seen", cancelled) == "seen"
    assert st.next_status("withdrawn", booked) == "withdrawn"


def test_through_the_bus_with_the_embedded_worker(service, client, school_a, submit, bus):
    """The real consumer loop: dedupe, handle, commit; our own outbox reaches our topic."""
    case_id = submit()
    worker = embedded_workers([service], bus)[0]
    worker.start()
    try:
        event = incoming("assessment.triaged", case_id, "/services/assessment", band="P1")
        bus.send("waymark.assessment.events", *to_kafka(event))
        bus.send("waymark.assessment.events", *to_kafka(event))
        deadline = time.monotonic() + 5
        while status_of(client, school_a, case_id) != "triaged" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert status_of(client, school_a, case_id) == "triaged"
        while len(bus.records("waymark.referral.events")) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        types = [dict(r.headers)["ce_type"] for r in bus.records("waymark.referral.events")]
        assert types.count(event_type("referral.status_changed").encode()) == 2
        assert event_type("referral.submitted").encode() in types
    finally:
        worker.stop()
