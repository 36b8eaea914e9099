"""Advice without referring (issue 12 item 3, optional): a school's question, a clinician's answer,
converted into a referral; free text encrypted, never on the bus, every clinician read logged."""

from __future__ import annotations

import json

from services.referral.advice import advice_case_id
from shared.events import event_type
from tests.unit.referral.conftest import referral

QUESTION = {
    "question": "A 13-year-old misses Mondays with stomach aches.\nShould we refer or try a mentor first?",
    "age_band": "12-14",
    "concerns": ["anxiety", "somatic_complaints"],
    "hospital": "bch",
}


def events_of(db, name: str) -> list[dict]:
    found = [e for col in ("advice", "advice_answers") for d in db[col].find() for e in d.get("outbox", [])]
    return [e for e in found if e["type"] == event_type(name)]


def clinician(staff, *hospitals: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {staff.issue('dr-east', 'clinician', hospitals)}"}


def ask(client, school) -> str:
    answer = client.post("/v1/advice", json=QUESTION, headers=school)
    assert answer.status_code == 201, answer.json
    return answer.json["advice_id"]


def test_question_answer_and_conversion(client, school_a, staff, db):
    advice_id = ask(client, school_a)
    (requested,) = events_of(db, "advice.requested")
    assert "stomach" not in json.dumps(requested)  # the question never travels
    assert "stomach" not in json.dumps(db.advice.find_one(), default=str)  # encrypted at rest
    listed = client.get("/clinical/v1/advice?hospital=bch", headers=clinician(staff, "bch")).json
    assert [i["advice_id"] for i in listed["items"]] == [advice_id]
    read = client.get(f"/clinical/v1/advice/{advice_id}", headers=clinician(staff, "bch"))
    assert read.json["question"] == QUESTION["question"]
    assert db.access_log.find_one({"case_id": advice_id, "what": "advice_question"}) is not None
    body = {"answer": "Try the mentor for two weeks; refer if mornings do not improve."}
    answered = client.post(
        f"/clinical/v1/advice/{advice_id}/answer", json=body, headers=clinician(staff, "bch")
    )
    assert answered.status_code == 200
    again = client.post(f"/clinical/v1/advice/{advice_id}/answer", json=body, headers=clinician(staff, "bch"))
    assert again.status_code == 409  # the first answer stands
    (done,) = events_of(db, "advice.answered")
    assert "mentor" not in json.dumps(done)
    shown = client.get(f"/v1/advice/{advice_id}", headers=school_a).json
    assert (shown["state"], shown["answer"]) == ("answered", body["answer"])
    converted = client.post(f"/v1/advice/{advice_id}/referral", json=referral(), headers=school_a)
    assert converted.status_code == 201, converted.json
    assert converted.json["case_id"] == advice_case_id(advice_id)
    retried = client.post(f"/v1/advice/{advice_id}/referral", json=referral(), headers=school_a)
    assert retried.json["case_id"] == converted.json["case_id"]  # never a second case
    assert db.cases.count_documents({}) == 1
    assert (
        client.get(f"/v1/advice/{advice_id}", headers=school_a).json["referral_case_id"]
        == converted.json["case_id"]
    )


def test_other_schools_and_other_hospitals_see_nothing(client, school_a, school_b, staff):
    advice_id = ask(client, school_a)
    assert client.get(f"/v1/advice/{advice_id}", headers=school_b).status_code == 404
    assert client.get(f"/clinical/v1/advice/{advice_id}", headers=clinician(staff, "hdm")).status_code == 404
    assert client.get("/clinical/v1/advice?hospital=bch", headers=clinician(staff, "hdm")).status_code == 403


def test_a_question_with_a_name_shaped_field_is_refused(client, school_a):
    answer = client.post("/v1/advice", json={**QUESTION, "student": {"name": "Lin"}}, headers=school_a)
    assert answer.status_code == 422  # only the declared, non-identifying fields are accepted
