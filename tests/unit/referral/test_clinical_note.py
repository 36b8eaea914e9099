"""HZ-07 (docs/clinical-safety.md): the school's free-text note reaches clinicians, decrypted only for them, logged."""

from __future__ import annotations

from tests.unit.referral.conftest import NOW, referral


def bearer(staff, subject: str, role: str, hospitals: tuple[str, ...] = ("*",)) -> dict[str, str]:
    return {"Authorization": f"Bearer {staff.issue(subject, role, list(hospitals))}"}


def note_of(client, case_id: str, headers: dict[str, str]):
    return client.get(f"/clinical/v1/cases/{case_id}/school-note", headers=headers)


def test_a_clinician_reads_the_schools_note_and_the_read_is_logged(client, submit, staff, db):
    """The hazard: what the school wrote was stored encrypted and shown to no clinician."""
    case_id = submit()
    response = note_of(client, case_id, bearer(staff, "dr-li", "clinician", ("bch",)))
    assert response.status_code == 200, response.json
    assert response.json["note"] == "Headaches before maths lessons"
    assert response.json["school_actions_details"] == "Weekly talks with Ms Chen Jing"
    [entry] = list(db.access_log.find({}, {"_id": 0}))
    assert entry == {
        "case_id": case_id,
        "who": "dr-li",
        "role": "clinician",
        "what": "school_note",
        "at": NOW,
    }
    operator = bearer(staff, "ops", "operator")
    log = client.get(f"/clinical/v1/cases/{case_id}/access-log", headers=operator)
    assert log.status_code == 200
    assert [(e["who"], e["what"]) for e in log.json["items"]] == [("dr-li", "school_note")]


def test_nobody_else_reads_it(client, submit, staff, school_a, db):
    case_id = submit()
    assert note_of(client, case_id, school_a).status_code == 401  # a school key is not a staff token
    assert note_of(client, case_id, bearer(staff, "s1", "scheduler")).status_code == 403
    assert note_of(client, case_id, bearer(staff, "s2", "operator")).status_code == 403
    assert db.access_log.count_documents({}) == 0


def test_a_clinician_of_a_hospital_the_family_did_not_choose_sees_nothing(client, submit, staff, db):
    """HZ-13: without share_with_hospitals only the named hospitals see the case."""
    case_id = submit()  # hospitals bch, fudan; consent without share_with_hospitals
    assert note_of(client, case_id, bearer(staff, "dr-x", "clinician", ("pku",))).status_code == 404
    assert db.access_log.count_documents({}) == 0


def test_with_share_consent_any_hospitals_clinician_may_read(client, submit, staff):
    body = referral()
    body["guardians"][0]["consent"]["scope"] = ["referral", "share_with_hospitals"]
    case_id = submit(body)
    assert note_of(client, case_id, bearer(staff, "dr-x", "clinician", ("pku",))).status_code == 200


def test_the_note_is_never_in_the_clear_at_rest(submit, db):
    case_id = submit()
    assert "Headaches" not in str(db.cases.find_one({"_id": case_id}))
