"""Every class of bad input answers 4xx naming the field, and leaves nothing behind."""

from __future__ import annotations

import json

import pytest

from tests.unit.referral.conftest import referral


def nothing_stored(db) -> bool:
    return db.cases.count_documents({}) == 0


def fields_of(response) -> dict:
    return response.json["error"]["fields"]


def post(client, headers, body, **kwargs):
    return client.post("/v1/referrals", json=body, headers=headers, **kwargs)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (referral(colour="blue"), "colour"),
        (referral(student={**referral()["student"], "nickname": "Xiao"}), "student.nickname"),
        (referral(student={**referral()["student"], "grade": "7"}), "student.grade"),
        (referral(student={**referral()["student"], "grade": 7.5}), "student.grade"),
        (referral(student={**referral()["student"], "grade": True}), "student.grade"),
        (referral(student={**referral()["student"], "grade": 13}), "student.grade"),
        (referral(student={**referral()["student"], "date_of_birth": "03/05/2012"}), "student.date_of_birth"),
        (referral(student={**referral()["student"], "sex": "M"}), "student.sex"),
        (
            referral(risk_indicators={"self_harm": "no", "suicidal_talk": False, "not_eating": False}),
            "risk_indicators.self_harm",
        ),
        (
            referral(risk_indicators={"self_harm": False, "suicidal_talk": False}),
            "risk_indicators.not_eating",
        ),
        (referral(concerns=["anxiety", "homesick"]), "concerns.1"),
        (referral(concerns=[]), "concerns"),
        (referral(concerns=["anxiety", "anxiety"]), "concerns"),
        (
            referral(absence={"start": "2025-02-17", "days_missed_last_20": 21, "partial_days_last_20": 0}),
            "absence.days_missed_last_20",
        ),
        (
            referral(absence={"start": "2025-02-17", "days_missed_last_20": 15, "partial_days_last_20": 8}),
            "absence.partial_days_last_20",
        ),
        (referral(guardians=[]), "guardians"),
        (referral(guardians=[{**referral()["guardians"][0], "email": "not-an-email"}]), "guardians.0.email"),
        (
            referral(guardians=[{**referral()["guardians"][0], "phone": None, "email": None}]),
            "guardians.0.phone",
        ),
        (
            referral(guardians=[{**referral()["guardians"][0], "language": "Chinese!"}]),
            "guardians.0.language",
        ),
        (
            referral(
                guardians=[
                    {
                        **referral()["guardians"][0],
                        "consent": {"given_at": "2025-03-10T08:00:00", "scope": ["referral"]},
                    }
                ]
            ),
            "guardians.0.consent.given_at",
        ),
        (referral(preferences={**referral()["preferences"], "weekdays": ["sat"]}), "preferences.weekdays.0"),
        (
            referral(preferences={**referral()["preferences"], "max_travel_km": "30"}),
            "preferences.max_travel_km",
        ),
        (referral(note=""), "note"),
        (referral(note=["a list"]), "note"),
    ],
)
def test_bad_fields_are_named(client, school_a, db, body, field):
    response = post(client, school_a, body)
    assert response.status_code == 422
    assert field in fields_of(response), fields_of(response)
    assert response.json["error"]["code"] == "validation_failed"
    assert nothing_stored(db)


def test_consent_to_refer_is_required(client, school_a, db):
    guardian = {
        **referral()["guardians"][0],
        "consent": {"given_at": "2025-03-10T08:00:00Z", "scope": ["questionnaires"]},
    }
    response = post(client, school_a, referral(guardians=[guardian]))
    assert response.status_code == 422
    assert "guardians" in fields_of(response)
    assert nothing_stored(db)


def test_missing_sections_are_each_named(client, school_a, db):
    response = post(client, school_a, {"student": referral()["student"]})
    assert response.status_code == 422
    assert {"guardians", "absence", "concerns", "risk_indicators", "preferences"} <= set(fields_of(response))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (referral(student={**referral()["student"], "date_of_birth": "2026-01-01"}), "student.date_of_birth"),
        (referral(student={**referral()["student"], "date_of_birth": "1990-01-01"}), "student.date_of_birth"),
        (referral(absence={**referral()["absence"], "start": "2025-03-20"}), "absence.start"),
        (
            referral(return_attempts=[{"started_on": "2025-04-01", "lasted_days": 1}]),
            "return_attempts.0.started_on",
        ),
        (
            referral(
                guardians=[
                    {
                        **referral()["guardians"][0],
                        "consent": {"given_at": "2025-03-13T09:00:00Z", "scope": ["referral"]},
                    }
                ]
            ),
            "guardians.0.consent.given_at",
        ),
    ],
)
def test_future_and_impossible_dates_are_refused(client, school_a, db, body, field):
    response = post(client, school_a, body)
    assert response.status_code == 422
    assert field in fields_of(response)
    assert nothing_stored(db)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (referral(student={**referral()["student"], "name": {"$ne": None}}), "student.name.$ne"),
        (referral(note={"$gt": ""}), "note.$gt"),
        ({**referral(), "$where": "1 == 1"}, "$where"),
        (referral(student={**referral()["student"], "profile.name": "x"}), "student.profile.name"),
        (referral(concerns=[{"$in": ["anxiety"]}]), "concerns.0.$in"),
    ],
)
def test_mongodb_operators_are_refused_anywhere(client, school_a, db, body, field):
    response = post(client, school_a, body)
    assert response.status_code == 422
    assert field in fields_of(response)
    assert nothing_stored(db)


def test_operators_in_the_list_query_are_refused(client, school_a):
    response = client.get("/v1/referrals?status[$ne]=withdrawn", headers=school_a)
    assert response.status_code == 422


def test_oversized_body_is_refused(settings, db, clock, school_a):
    from services.referral.bootstrap import build

    small = build(
        settings.but(extra={**settings.extra, "REFERRAL_MAX_BODY_BYTES": "2048"}), db=db, clock=clock
    )
    body = referral(note="x" * 3000)
    response = small.app.test_client().post("/v1/referrals", json=body, headers=school_a)
    assert response.status_code == 413
    assert response.json["error"]["status"] == 413
    assert nothing_stored(db)


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"null", b'"text"'])
def test_malformed_json_is_a_client_error(client, school_a, db, raw):
    response = client.post(
        "/v1/referrals", data=raw, headers={**school_a, "Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500
    assert "error" in response.json
    assert nothing_stored(db)


def test_amendment_validates_too_and_cannot_change_identity(client, school_a, submit):
    case_id = submit()
    for body, field in [
        ({"student": {"name": "Someone Else"}}, "student"),
        ({}, "_schema"),
        (
            {"absence": {"start": "2099-01-01", "days_missed_last_20": 1, "partial_days_last_20": 0}},
            "absence.start",
        ),
        ({"note": {"$set": {"status": "discharged"}}}, "note.$set"),
    ]:
        response = client.patch(
            f"/v1/referrals/{case_id}",
            data=json.dumps(body),
            headers=school_a,
            content_type="application/json",
        )
        assert response.status_code == 422, body
        assert field in fields_of(response), fields_of(response)


def test_attendance_and_withdrawal_validate(client, school_a, submit):
    case_id = submit()
    bad = [
        ("withdraw", {"reason": "bored"}, "reason"),
        ("withdraw", {"reason": "other", "extra": 1}, "extra"),
        ("attendance", {"week_start": "2025-03-03", "hours_by_day": [1, 2, 3]}, "hours_by_day"),
        ("attendance", {"week_start": "2025-03-04", "hours_by_day": [1, 2, 3, 4, 5]}, "week_start"),
        ("attendance", {"week_start": "2025-03-17", "hours_by_day": [1, 2, 3, 4, 5]}, "week_start"),
        ("attendance", {"week_start": "2025-03-03", "hours_by_day": [1, 2, "3", 4, 5]}, "hours_by_day.2"),
        ("attendance", {"week_start": "2025-03-03", "hours_by_day": [1, 2, 13, 4, 5]}, "hours_by_day.2"),
    ]
    for action, body, field in bad:
        response = client.post(f"/v1/referrals/{case_id}/{action}", json=body, headers=school_a)
        assert response.status_code == 422, (action, body)
        assert field in fields_of(response), (action, fields_of(response))


def test_the_openapi_document_states_that_code_lists_hold_no_duplicates(client, school_a):
    """The rule the API enforces (422 "Must not contain duplicates.") is in the document, so clients
    and fuzzers generate lists the API accepts."""
    spec = client.get("/openapi.json").json["components"]["schemas"]
    referral_in = next(s for name, s in spec.items() if "concerns" in s.get("properties", {}))
    assert referral_in["properties"]["concerns"]["uniqueItems"] is True
    twice = post(client, school_a, referral(concerns=["anxiety", "anxiety"]))
    assert twice.status_code == 422
    assert fields_of(twice) == {"concerns": ["Must not contain duplicates."]}
