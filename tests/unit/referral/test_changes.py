"""Amend, withdraw and report attendance: each change and its event in one write."""

from __future__ import annotations

from services.referral.cases import Referrals
from services.referral.crypto import FieldCipher
from services.referral.repository import Cases
from tests.unit.referral.conftest import incoming, outbox_events


def test_amend_replaces_sections_and_emits_the_full_picture(client, school_a, submit, db):
    case_id = submit()
    change = {
        "risk_indicators": {"self_harm": True, "suicidal_talk": False, "not_eating": True},
        "note": "Now refuses to leave the house",
    }
    response = client.patch(f"/v1/referrals/{case_id}", json=change, headers=school_a)
    assert response.status_code == 200
    assert response.json["referral"]["note"] == "Now refuses to leave the house"
    assert response.json["referral"]["concerns"] == ["anxiety", "somatic_complaints"]  # untouched
    assert response.json["timeline"][-1]["detail"]["fields"] == ["note", "risk_indicators"]
    [amended] = outbox_events(db, "referral.amended")
    assert amended["data"]["risk_flags"] == ["not_eating", "self_harm"]
    assert amended["data"]["amended_fields"] == ["note", "risk_indicators"]
    assert amended["data"]["age_band"] == "12-14" and amended["data"]["case_id"] == case_id


def test_withdraw_closes_the_case(client, school_a, submit, db):
    case_id = submit()
    response = client.post(
        f"/v1/referrals/{case_id}/withdraw",
        json={"reason": "family_declined", "note": "Mother asked"},
        headers=school_a,
    )
    assert response.status_code == 200
    assert response.json["status"] == "withdrawn"
    assert response.json["withdrawal"]["note"] == "Mother asked"
    [withdrawn] = outbox_events(db, "referral.withdrawn")
    assert withdrawn["data"] == {"case_id": case_id, "reason": "family_declined"}
    assert outbox_events(db, "referral.status_changed")[-1]["data"]["previous_status"] == "submitted"
    again = client.post(f"/v1/referrals/{case_id}/withdraw", json={"reason": "other"}, headers=school_a)
    assert again.status_code == 409
    assert (
        client.patch(f"/v1/referrals/{case_id}", json={"note": "late"}, headers=school_a).status_code == 409
    )
    assert len(outbox_events(db, "referral.withdrawn")) == 1
    assert outbox_events(db, "referral.amended") == []


def test_attendance_only_once_seen(service, client, school_a, submit, db):
    case_id = submit()
    report = {"week_start": "2025-03-03", "hours_by_day": [0, 1, 1.5, 2, 0]}
    response = client.post(f"/v1/referrals/{case_id}/attendance", json=report, headers=school_a)
    assert response.status_code == 409
    assert outbox_events(db, "attendance.reported") == []
    service.handlers["returnplan.updated"](incoming("returnplan.updated", case_id, "/services/assessment"))
    response = client.post(f"/v1/referrals/{case_id}/attendance", json=report, headers=school_a)
    assert response.status_code == 202
    [reported] = outbox_events(db, "attendance.reported")
    assert reported["data"] == {
        "case_id": case_id,
        "week_start": "2025-03-03",
        "hours_by_day": [0.0, 1.0, 1.5, 2.0, 0.0],
    }
    corrected = {"week_start": "2025-03-03", "hours_by_day": [1, 1, 1.5, 2, 0]}
    client.post(f"/v1/referrals/{case_id}/attendance", json=corrected, headers=school_a)
    case = client.get(f"/v1/referrals/{case_id}", headers=school_a).json
    assert case["attendance"] == [
        {
            "week_start": "2025-03-03",
            "hours_by_day": [1, 1, 1.5, 2, 0],
            "reported_at": "2025-03-12T09:00:00.000Z",
        }
    ]
    assert len(outbox_events(db, "attendance.reported")) == 2


def test_a_concurrent_change_is_not_lost(service, submit, db, clock):
    """An event handled between a command's read and its write makes the command re-read, not clobber."""
    case_id = submit()
    cases = Cases(db, service.outbox)
    read = cases.get_for_school

    def read_then_race(*args):
        found = read(*args)
        if found["status"] == "submitted":
            service.handlers["assessment.triaged"](
                incoming("assessment.triaged", case_id, "/services/assessment")
            )
        return found

    cases.get_for_school = read_then_race
    Referrals(cases, FieldCipher.from_settings(service.settings), clock).amend(
        case_id, "school-a", {"note": "later"}
    )
    case = db.cases.find_one({"_id": case_id})
    assert case["status"] == "triaged"
    assert [e["kind"] for e in case["timeline"]] == ["submitted", "triaged", "amended"]
    assert FieldCipher.from_settings(service.settings).decrypt(case["referral"]["note"]) == "later"


def test_a_version_claimed_by_a_writer_that_died_before_folding_it_is_folded_by_the_next(
    service, submit, db, clock
):
    """The claim is the truth: a change claimed but never folded (a crash) is not lost, and
    the next change of the case is built on it; its event is written once, on the claim."""
    case_id = submit()
    cipher = FieldCipher.from_settings(service.settings)
    crashed = Cases(db, service.outbox)
    crashed._fold = lambda claim: None  # the process dies right after its claim
    Referrals(crashed, cipher, clock).amend(case_id, "school-a", {"note": "first"})
    assert db.cases.find_one({"_id": case_id})["version"] == 1, "not folded"

    cases = Cases(db, service.outbox, fold_wait_s=0.05)
    Referrals(cases, cipher, clock).amend(case_id, "school-a", {"concerns": ["anxiety"]})
    case = db.cases.find_one({"_id": case_id})
    assert case["version"] == 3
    assert cipher.decrypt(case["referral"]["note"]) == "first"
    assert case["referral"]["concerns"] == ["anxiety"]
    assert [e["kind"] for e in case["timeline"]] == ["submitted", "amended", "amended"]
    assert len(outbox_events(db, "referral.amended")) == 2


def test_a_lost_version_is_not_written(service, submit, db):
    """Two writers decide on the same read: the second's claim clashes, so nothing of it lands."""
    case_id = submit()
    cases = Cases(db, service.outbox, fold_wait_s=0.05)
    read = cases.get(case_id)
    assert cases.update(read, {"$set": {"status": "triaged"}})
    assert not cases.update(read, {"$set": {"status": "withdrawn"}})
    case = cases.get(case_id)
    assert (case["status"], case["version"]) == ("triaged", 2)
    assert db.case_versions.count_documents({"case_id": case_id}) == 1
