"""Hostile input answers 4xx naming the problem, never 500 (issue 11 item 8)."""

from __future__ import annotations

import json

import pytest
from pymongo.errors import ServerSelectionTimeoutError

from services.referral.repository import Cases
from tests.unit.referral.conftest import referral


def post_raw(client, headers, text: str):
    return client.post("/v1/referrals", data=text, content_type="application/json", headers=headers)


def test_absurdly_deep_json_is_a_400_naming_the_problem(client, school_a, db):
    response = post_raw(client, school_a, '{"note":' + "[" * 10_000 + "]" * 10_000 + "}")
    assert response.status_code == 400
    error = response.json["error"]
    assert error["code"] == "invalid_body" and "nested too deeply" in error["message"]
    assert db.cases.count_documents({}) == 0


def test_a_lone_surrogate_in_the_name_is_a_422_naming_the_field(client, school_a, db):
    text = json.dumps(referral()).replace("Lin Xiaoming", "Lin \\ud800")
    response = post_raw(client, school_a, text)
    assert response.status_code == 422, response.json
    assert "student.name" in response.json["error"]["fields"]
    assert "surrogate" in response.json["error"]["fields"]["student.name"][0]
    assert db.cases.count_documents({}) == 0


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("student", "name"), "Lin\x00Xiaoming"),
        (("student", "name"), "Lin\nXiaoming"),
        (("student", "name"), "Lin\r\nXiaoming"),
        (("student", "name"), "Lin\u202eXiaoming"),
        (("student", "name"), "Lin\u2066Xiaoming"),
        (("guardians", 0, "name"), "Wang\tFang"),
        (("preferences", "home_district"), "hai\u2028dian"),
        (("note",), "Headaches\x00"),
        (("note",), "Headaches \u202d before maths"),
        (("school_actions", "details"), "Talks\x1b[31m"),
    ],
)
def test_control_and_bidi_characters_are_refused_naming_the_field(client, school_a, path, value, db):
    body = referral()
    node = body
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    response = client.post("/v1/referrals", json=body, headers=school_a)
    assert response.status_code == 422, response.json
    assert ".".join(map(str, path)) in response.json["error"]["fields"]
    assert db.cases.count_documents({}) == 0


def test_multi_line_free_text_keeps_its_line_breaks(client, school_a, submit):
    note = "Headaches before maths.\nCries at the gate;\r\n\tcalmer with a mentor."
    case_id = submit(
        referral(note=note, school_actions={"tried": ["mentor"], "details": "Line one\nLine two"})
    )
    case = client.get(f"/v1/referrals/{case_id}", headers=school_a).json
    assert case["referral"]["note"] == note
    assert case["referral"]["school_actions"]["details"] == "Line one\nLine two"


def test_right_to_left_text_is_accepted(submit):
    submit(
        referral(student={"name": "ليلى أحمد", "date_of_birth": "2012-05-03", "sex": "female", "grade": 7})
    )


def test_a_bad_field_name_is_named_without_echoing_its_control_character(client, school_a):
    response = client.post("/v1/referrals", json={**referral(), "x\u202ey": 1}, headers=school_a)
    assert response.status_code == 422
    [name] = [f for f in response.json["error"]["fields"] if f.startswith("x")]
    assert "\u202e" not in name


def test_admin_routes_authenticate_before_parsing_the_body(client):
    response = client.post("/admin/v1/school-keys", json={"school_id": "$bad"})
    assert response.status_code == 401, response.json
    deep = client.post(
        "/admin/v1/school-keys", data="[" * 10_000 + "]" * 10_000, content_type="application/json"
    )
    assert deep.status_code == 401


def test_a_store_outage_answers_503_with_retry_after(client, school_a, monkeypatch):
    def down(*args, **kwargs):
        raise ServerSelectionTimeoutError("127.0.0.1:1: [Errno 111] Connection refused")

    monkeypatch.setattr(Cases, "insert", down)
    response = client.post("/v1/referrals", json=referral(), headers=school_a)
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert response.json["error"]["code"] == "store_unavailable"
