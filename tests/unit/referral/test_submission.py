"""Submitting: auth, idempotency, duplicate detection, scoping, rate limits."""

from __future__ import annotations

from services.referral.bootstrap import build
from services.referral.keys import create_school_key, list_school_keys, revoke_school_key
from tests.unit.referral.conftest import outbox_events, referral


def test_submit_opens_a_case_with_its_events(client, school_a, db):
    response = client.post("/v1/referrals", json=referral(), headers=school_a)
    assert response.status_code == 201
    body = response.json
    assert body["status"] == "submitted" and body["duplicate"] is False
    case = client.get(f"/v1/referrals/{body['case_id']}", headers=school_a).json
    assert case["referral"]["student"]["name"] == "Lin Xiaoming"
    assert [e["kind"] for e in case["timeline"]] == ["received"]  # the school's coarse view (HZ-13)
    [submitted] = outbox_events(db, "referral.submitted")
    assert submitted["subject"] == body["case_id"]
    data = submitted["data"]
    assert data["age_band"] == "12-14" and data["district"] == "haidian" and data["grade"] == 7
    assert data["risk_flags"] == ["not_eating"] and data["return_attempts"] == 1
    assert data["concerns"] == ["anxiety", "somatic_complaints"] and data["referred_on"] == "2025-03-12"
    assert len(outbox_events(db, "referral.status_changed")) == 1


class TestAuth:
    def test_no_key_or_a_wrong_key_is_401(self, client):
        assert client.post("/v1/referrals", json=referral()).status_code == 401
        wrong = {"Authorization": "Bearer wm_school_nope"}
        response = client.get("/v1/referrals", headers=wrong)
        assert response.status_code == 401 and response.json["error"]["status"] == 401

    def test_a_revoked_key_stops_working_within_the_key_cache_ttl(self, client, db, clock):
        issued = create_school_key(db, "school-c", "Chaoyang Experimental")
        headers = {"Authorization": f"Bearer {issued.key}"}
        assert client.get("/v1/referrals", headers=headers).status_code == 200
        assert revoke_school_key(db, issued.key_id) is True
        assert revoke_school_key(db, issued.key_id) is False
        clock.advance(seconds=29)  # this worker still trusts its lookup (REFERRAL_KEY_CACHE_S = 30)
        assert client.get("/v1/referrals", headers=headers).status_code == 200
        clock.advance(seconds=1)
        assert client.get("/v1/referrals", headers=headers).status_code == 401

    def test_keys_are_stored_hashed(self, db):
        issued = create_school_key(db, "school-c", "Chaoyang Experimental")
        raw = str(list(db.school_keys.find()))
        assert issued.key not in raw
        assert [k["_id"] for k in list_school_keys(db, "school-c")] == [issued.key_id]
        assert "key_hash" not in list_school_keys(db, "school-c")[0]

    def test_rate_limit_per_key(self, settings, db, clock, school_a, school_b):
        limited = build(settings.but(extra={"REFERRAL_RATE_LIMIT_PER_MINUTE": "3"}), db=db, clock=clock)
        client = limited.app.test_client()
        answers = [client.get("/v1/referrals", headers=school_a) for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert answers[0].headers["X-RateLimit-Remaining"] == "2"
        assert int(answers[3].headers["Retry-After"]) > 0
        assert client.get("/v1/referrals", headers=school_b).status_code == 200  # per key
        clock.advance(minutes=1)
        assert client.get("/v1/referrals", headers=school_a).status_code == 200


class TestIdempotency:
    def test_same_key_and_body_answers_the_first_result(self, client, school_a, db):
        headers = {**school_a, "Idempotency-Key": "form-42"}
        first = client.post("/v1/referrals", json=referral(), headers=headers)
        again = client.post("/v1/referrals", json=referral(), headers=headers)
        assert first.status_code == again.status_code == 201
        assert first.json == again.json
        assert again.headers["Idempotent-Replayed"] == "true"
        assert db.cases.count_documents({}) == 1
        assert len(outbox_events(db, "referral.submitted")) == 1

    def test_same_key_with_another_body_is_409(self, client, school_a, db):
        headers = {**school_a, "Idempotency-Key": "form-42"}
        assert client.post("/v1/referrals", json=referral(), headers=headers).status_code == 201
        response = client.post("/v1/referrals", json=referral(note="changed"), headers=headers)
        assert response.status_code == 409
        assert "Idempotency-Key" in response.json["error"]["message"]
        assert db.cases.count_documents({}) == 1

    def test_keys_are_per_school(self, client, school_a, school_b, db):
        other_child = referral(student={**referral()["student"], "name": "Zhao Lei"})
        assert (
            client.post(
                "/v1/referrals", json=referral(), headers={**school_a, "Idempotency-Key": "k"}
            ).status_code
            == 201
        )
        assert (
            client.post(
                "/v1/referrals", json=other_child, headers={**school_b, "Idempotency-Key": "k"}
            ).status_code
            == 201
        )
        assert db.cases.count_documents({}) == 2

    def test_a_failed_request_does_not_burn_the_key(self, client, school_a):
        headers = {**school_a, "Idempotency-Key": "retry-me"}
        bad = referral(absence={**referral()["absence"], "start": "2030-01-01"})
        assert client.post("/v1/referrals", json=bad, headers=headers).status_code == 422
        assert client.post("/v1/referrals", json=referral(), headers=headers).status_code == 201

    def test_a_crashed_first_attempt_is_completed_not_duplicated(self, client, school_a, db):
        """The first request died after writing its case (before answering): the retry replays it."""
        from services.referral.idempotency import case_id_for

        headers = {**school_a, "Idempotency-Key": "crashy"}
        first = client.post("/v1/referrals", json=referral(), headers=headers)
        again = client.post("/v1/referrals", json=referral(), headers=headers)
        assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json["case_id"] == first.json["case_id"] == case_id_for("school-a", "crashy")
        assert db.cases.count_documents({}) == 1

    def test_a_request_that_died_before_its_case_does_not_hold_the_key(self, client, school_a, db, clock):
        """Nothing is written for a key before its case (the case's insert is the key's only
        write), so a request that died earlier leaves nothing to wait out: the retry does the
        work at once. (A record written before the work answered 409 for a minute.)"""
        db.idempotency.insert_one(
            {"_id": "school-a:died", "hash": "x", "state": "pending", "created_at": clock()}
        )  # what the former protocol left when it died before the case
        headers = {**school_a, "Idempotency-Key": "died"}
        response = client.post("/v1/referrals", json=referral(), headers=headers)
        assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers
        assert db.cases.count_documents({}) == 1


class TestDuplicates:
    def test_same_child_while_open_links_to_the_case(self, client, school_a, submit, db):
        case_id = submit()
        same_child = referral(student={**referral()["student"], "name": "  lin  XIAOMING "}, note="more")
        response = client.post("/v1/referrals", json=same_child, headers=school_a)
        assert response.status_code == 200
        assert response.json["duplicate"] is True and response.json["case_id"] == case_id
        assert "open case" in response.json["message"]
        assert db.cases.count_documents({}) == 1
        case = client.get(f"/v1/referrals/{case_id}", headers=school_a).json
        assert case["linked_referrals"] == 1
        assert case["timeline"][-1]["kind"] == "duplicate_referral_linked"

    def test_another_school_gets_its_own_case_and_learns_nothing_of_the_first(
        self, client, submit, school_a, school_b, db
    ):
        """Issue 11 item 7: no existence oracle. School B submitting school A's child gets exactly
        what a first referral gets (201, its own case, duplicate false); the clinicians see the
        link on A's case, and B's case carries no events downstream (no second triage)."""
        case_id = submit()
        fresh = client.post("/v1/referrals", json=referral(student={**referral()["student"], "name": "Other Child"}),
                            headers=school_b)  # fmt: skip
        response = client.post("/v1/referrals", json=referral(note="from school b"), headers=school_b)
        assert response.status_code == fresh.status_code == 201
        assert set(response.json) == set(fresh.json) and response.json["duplicate"] is False
        assert response.json["status"] == fresh.json["status"] == "submitted"
        own = response.json["case_id"]
        assert own != case_id and case_id not in str(response.json)
        shown = client.get(f"/v1/referrals/{own}", headers=school_b)
        assert shown.status_code == 200 and case_id not in str(shown.json)
        assert set(shown.json) == set(
            client.get(f"/v1/referrals/{fresh.json['case_id']}", headers=school_b).json
        )
        assert client.get(f"/v1/referrals/{case_id}", headers=school_b).status_code == 404
        assert client.get("/v1/referrals", headers=school_b).json["total"] == 2
        first = client.get(f"/v1/referrals/{case_id}", headers=school_a).json
        assert first["linked_referrals"] == 1 and first["timeline"][-1]["kind"] == "duplicate_referral_linked"
        stored = db.cases.find_one({"_id": own})
        assert stored["linked_to"] == case_id and not stored.get("outbox")
        assert db.cases.find_one({"_id": fresh.json["case_id"]})["outbox"]  # a first referral does emit
        assert db.cases.find_one({"_id": case_id})["linked_referrals"][0]["case_id"] == own

    def test_another_schools_linked_case_is_replayed_and_withdrawn_without_events(
        self, client, submit, school_b, db
    ):
        submit()
        headers = {**school_b, "Idempotency-Key": "b-1"}
        first = client.post("/v1/referrals", json=referral(), headers=headers)
        again = client.post("/v1/referrals", json=referral(), headers=headers)
        assert first.status_code == 201 and again.json["case_id"] == first.json["case_id"]
        own = first.json["case_id"]
        assert db.cases.count_documents({"linked_to": {"$exists": True}}) == 1
        withdrawn = client.post(f"/v1/referrals/{own}/withdraw", json={"reason": "other"}, headers=school_b)
        assert withdrawn.status_code == 200 and not db.cases.find_one({"_id": own}).get("outbox")

    def test_another_child_or_birthday_is_a_new_case(self, client, school_a, submit):
        first = submit()
        twin = referral(student={**referral()["student"], "name": "Lin Xiaohong"})
        other_dob = referral(student={**referral()["student"], "date_of_birth": "2012-05-04"})
        assert submit(twin) != first
        assert submit(other_dob) != first

    def test_after_withdrawal_the_child_can_be_referred_again(self, client, school_a, submit):
        first = submit()
        assert (
            client.post(
                f"/v1/referrals/{first}/withdraw", json={"reason": "other"}, headers=school_a
            ).status_code
            == 200
        )
        assert submit() != first

    def test_the_blind_index_holds_no_plaintext(self, submit, db):
        submit()
        [case] = list(db.cases.find())
        assert case["child_slot"] == case["child_index"]  # the open case holds its child
        assert "xiaoming" not in case["child_slot"].lower() and "2012" not in case["child_slot"]


class TestScoping:
    def test_a_school_sees_only_its_own_cases(self, client, submit, school_a, school_b):
        case_id = submit()
        other = referral(student={**referral()["student"], "name": "Zhao Lei"})
        submit(other, headers=school_b)
        assert client.get(f"/v1/referrals/{case_id}", headers=school_b).status_code == 404
        assert client.get(f"/v1/referrals/{case_id}/fhir", headers=school_b).status_code == 404
        assert (
            client.patch(f"/v1/referrals/{case_id}", json={"note": "x"}, headers=school_b).status_code == 404
        )
        assert (
            client.post(
                f"/v1/referrals/{case_id}/withdraw", json={"reason": "other"}, headers=school_b
            ).status_code
            == 404
        )
        listed = client.get("/v1/referrals", headers=school_b).json
        assert [i["student_name"] for i in listed["items"]] == ["Zhao Lei"] and listed["total"] == 1

    def test_list_is_paginated_and_filtered_by_status(self, client, submit, school_a, clock):
        ids = []
        for n in range(5):
            clock.advance(minutes=1)
            ids.append(submit(referral(student={**referral()["student"], "name": f"Child {n}"})))
        client.post(f"/v1/referrals/{ids[0]}/withdraw", json={"reason": "moved_away"}, headers=school_a)
        page = client.get("/v1/referrals?per_page=2&page=1", headers=school_a).json
        assert page["total"] == 5 and [i["case_id"] for i in page["items"]] == [ids[4], ids[3]]
        last = client.get("/v1/referrals?per_page=2&page=3", headers=school_a).json
        assert [i["case_id"] for i in last["items"]] == [ids[0]]
        withdrawn = client.get("/v1/referrals?status=withdrawn", headers=school_a).json
        assert [i["case_id"] for i in withdrawn["items"]] == [ids[0]]
        assert client.get("/v1/referrals?status=lost", headers=school_a).status_code == 422
        assert client.get("/v1/referrals?per_page=500", headers=school_a).status_code == 422

    def test_unknown_or_malformed_case_ids_are_404(self, client, school_a):
        assert client.get("/v1/referrals/c_doesnotexist", headers=school_a).status_code == 404
        assert client.get("/v1/referrals/%24where", headers=school_a).status_code == 404
