"""Personal data: encrypted at rest field by field, absent from every event, keys rotatable."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet, InvalidToken

from services.referral.bootstrap import build
from services.referral.crypto import DEV_DATA_KEY, DEV_INDEX_KEY, FieldCipher, normalise_name
from services.referral.rotation import rebuild_child_index, rotate_data_keys
from shared.events import Event, to_kafka
from tests.unit.referral.conftest import PERSONAL, incoming, outbox_events, referral


def exercise_every_event(service, client, school_a, submit) -> str:
    """Drive the service through every event it emits: submitted, amended, status_changed,
    attendance.reported, withdrawn."""
    case_id = submit()
    client.patch(f"/v1/referrals/{case_id}", json={"note": "Wang Fang called again"}, headers=school_a)
    service.handlers["returnplan.updated"](incoming("returnplan.updated", case_id, "/services/assessment"))
    client.post(
        f"/v1/referrals/{case_id}/attendance",
        json={"week_start": "2025-03-03", "hours_by_day": [1, 1, 1, 1, 1]},
        headers=school_a,
    )
    client.post(
        f"/v1/referrals/{case_id}/withdraw",
        json={"reason": "other", "note": "Lin Xiaoming moved"},
        headers=school_a,
    )
    return case_id


def test_no_event_carries_personal_data(service, client, school_a, submit, db):
    exercise_every_event(service, client, school_a, submit)
    emitted = [Event.from_dict(e) for e in outbox_events(db)]
    assert {e.name for e in emitted} == {
        "referral.submitted",
        "referral.amended",
        "referral.status_changed",
        "attendance.reported",
        "referral.withdrawn",
    }
    for event in emitted:
        key, value, headers = to_kafka(event)
        wire = key + value + b"".join(k.encode() + v for k, v in headers)
        for secret in PERSONAL:
            assert secret.encode() not in wire, (event.name, secret)
            assert secret.lower().encode() not in wire.lower(), (event.name, secret)
        assert b"Xiaoming" not in wire and b"xiaoming" not in wire


def test_raw_documents_hold_no_plaintext(service, client, school_a, submit, db):
    case_id = exercise_every_event(service, client, school_a, submit)
    client.put("/v1/webhook", json={"url": "https://school-a.example.cn/hook"}, headers=school_a)
    raw = json.dumps([list(db[name].find()) for name in db.list_collection_names()], default=str)
    for secret in [*PERSONAL, "Headaches before maths", "Wang Fang called again", "moved", "whsec_"]:
        assert secret not in raw, secret
    # yet the school reads its case back in clear
    case = client.get(f"/v1/referrals/{case_id}", headers=school_a).json
    assert case["referral"]["student"]["date_of_birth"] == "2012-05-03"
    assert case["withdrawal"]["note"] == "Lin Xiaoming moved"


def test_each_field_is_its_own_token(submit, db):
    submit()
    student = db.cases.find_one()["referral"]["student"]
    assert student["name"] != student["date_of_birth"]
    assert student["name"].startswith("gAAAA") and student["grade"] == 7


def test_data_key_rotation(submit, db, school_a, settings, clock):
    case_id = submit()
    client_ = build(settings, db=db, clock=clock).app.test_client()
    client_.put("/v1/webhook", json={"url": "https://school-a.example.cn/hook"}, headers=school_a)
    new_key = Fernet.generate_key().decode()
    assert rotate_data_keys(db, FieldCipher([new_key, DEV_DATA_KEY], DEV_INDEX_KEY)) == 2
    stored = db.cases.find_one({"_id": case_id})["referral"]
    assert FieldCipher([new_key], DEV_INDEX_KEY).unseal(stored)["student"]["name"] == "Lin Xiaoming"
    with pytest.raises(InvalidToken):
        FieldCipher([DEV_DATA_KEY], DEV_INDEX_KEY).unseal(stored)
    # the service configured with the new key alone still reads everything
    rotated = settings.but(extra={**settings.extra, "REFERRAL_DATA_KEYS": new_key})
    after = build(rotated, db=db, clock=clock).app.test_client()
    assert after.get(f"/v1/referrals/{case_id}", headers=school_a).json["student_name"] == "Lin Xiaoming"


def test_index_key_rotation_keeps_duplicate_detection(settings, db, clock, school_a, submit):
    case_id = submit()
    new_index_key = "a-brand-new-index-key-0123456789"
    assert rebuild_child_index(db, FieldCipher([DEV_DATA_KEY], new_index_key)) == 1
    rotated = settings.but(extra={**settings.extra, "REFERRAL_INDEX_KEY": new_index_key})
    client = build(rotated, db=db, clock=clock).app.test_client()
    response = client.post("/v1/referrals", json=referral(), headers=school_a)
    assert response.status_code == 200 and response.json["case_id"] == case_id


def test_names_normalise_for_the_blind_index():
    assert normalise_name(" Lin  Xiao-Ming ") == normalise_name("lin xiaoming") == "linxiaoming"
    assert normalise_name("José") == normalise_name("JOSE")
    assert normalise_name("林小明") == "林小明"


def test_index_key_rotation_never_gives_the_claim_to_another_schools_linked_case(
    settings, db, clock, school_a, school_b, submit
):
    """A linked case (issue 11 item 7) must not take the child's claim when the index is rebuilt."""
    first = submit()
    linked = submit(headers=school_b)
    db.cases.update_many({}, {"$set": {"child_index": "old"}})
    db.cases.update_one({"_id": first}, {"$set": {"child_slot": "old"}})  # the first case holds the child
    moved = db.cases.find_one_and_delete({"_id": first})  # stored after the linked case: read second
    db.cases.insert_one(moved)
    assert [c["_id"] for c in db.cases.find()] == [linked, first]
    new_index_key = "a-brand-new-index-key-0123456789"
    assert rebuild_child_index(db, FieldCipher([DEV_DATA_KEY], new_index_key)) == 2
    holders = [c["_id"] for c in db.cases.find() if not c["child_slot"].startswith("case:")]
    assert holders == [first]
    assert db.cases.find_one({"_id": linked})["child_slot"] == f"case:{linked}"
