"""Operators issue and revoke school keys through the service (what `waymark school-key` calls)."""

from __future__ import annotations

from tests.unit.referral.conftest import referral


def operator(staff) -> dict:
    return {"Authorization": f"Bearer {staff.issue('ops-1', 'operator')}"}


def test_a_key_is_issued_once_works_and_stops_working_when_revoked(client, staff):
    issued = client.post(
        "/admin/v1/school-keys",
        json={"school_id": "school-z", "name": "Dongcheng No. 5"},
        headers=operator(staff),
    )
    assert issued.status_code == 201
    key, key_id = issued.json["key"], issued.json["key_id"]
    school = {"Authorization": f"Bearer {key}"}
    assert client.post("/v1/referrals", json=referral(), headers=school).status_code == 201

    listed = client.get("/admin/v1/school-keys?school_id=school-z", headers=operator(staff)).json
    assert [k["key_id"] for k in listed] == [key_id]
    assert "key" not in listed[0]
    assert "key_hash" not in listed[0]

    assert client.delete(f"/admin/v1/school-keys/{key_id}", headers=operator(staff)).status_code == 204
    assert client.get("/v1/referrals", headers=school).status_code == 401
    assert client.delete(f"/admin/v1/school-keys/{key_id}", headers=operator(staff)).status_code == 404


def test_only_operators_may_issue_keys(client, staff, school_a):
    body = {"school_id": "school-z", "name": "x"}
    assert client.post("/admin/v1/school-keys", json=body).status_code == 401
    scheduler = {"Authorization": f"Bearer {staff.issue('s-1', 'scheduler')}"}
    assert client.post("/admin/v1/school-keys", json=body, headers=scheduler).status_code == 403
    assert client.post("/admin/v1/school-keys", json=body, headers=school_a).status_code == 401


def test_bad_school_ids_name_the_field(client, staff):
    response = client.post(
        "/admin/v1/school-keys", json={"school_id": "$bad", "name": ""}, headers=operator(staff)
    )
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"school_id", "name"}
