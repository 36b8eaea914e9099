"""What the fewer round trips must not change: tenancy, idempotent retries, one claim per child,
the answers of amend and withdraw, and the pruning of the former idempotency records."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.referral.bootstrap import build
from services.referral.idempotency import case_id_for
from services.referral.repository import applied
from shared import housekeeping
from tests.unit.referral.conftest import incoming, referral

OTHER_CHILD = {**referral()["student"], "name": "Zhao Lei"}


def holders(db) -> list[str]:
    """The cases holding their child (``child_slot`` is the blind index, not ``case:<id>``)."""
    return [c["_id"] for c in db.cases.find() if not c["child_slot"].startswith("case:")]


def without_correlation(body: dict) -> dict:
    return {**body, "error": {k: v for k, v in body["error"].items() if k != "correlation_id"}}


class TestTenancy:
    @pytest.mark.parametrize(
        ("method", "suffix", "body"),
        [
            ("get", "", None),
            ("get", "/fhir", None),
            ("get", "/episode-of-care/fhir", None),
            ("patch", "", {"note": "x"}),
            ("post", "/withdraw", {"reason": "other"}),
            ("post", "/attendance", {"week_start": "2025-03-03", "hours_by_day": [1, 1, 1, 1, 1]}),
        ],
    )
    def test_another_schools_case_answers_exactly_like_a_missing_one(
        self, client, submit, school_b, method, suffix, body
    ):
        case_id = submit()
        call = getattr(client, method)
        foreign = call(f"/v1/referrals/{case_id}{suffix}", json=body, headers=school_b)
        missing = call(f"/v1/referrals/c-0000000000000000000{suffix}", json=body, headers=school_b)
        assert foreign.status_code == missing.status_code == 404
        assert without_correlation(foreign.json) == without_correlation(missing.json)
        assert client.get(f"/v1/referrals/{case_id}", headers=school_b).status_code == 404

    def test_a_school_linked_to_a_case_by_a_duplicate_is_still_refused(self, client, submit, school_b):
        case_id = submit()
        assert client.post("/v1/referrals", json=referral(), headers=school_b).json["case_id"] != case_id
        assert client.get(f"/v1/referrals/{case_id}", headers=school_b).status_code == 404


class TestIdempotentRetries:
    def test_a_linked_duplicate_is_replayed_from_its_link_record_not_linked_again(
        self, client, submit, school_a, db
    ):
        case_id = submit()
        headers = {**school_a, "Idempotency-Key": "dup-1"}
        first = client.post("/v1/referrals", json=referral(note="again"), headers=headers)
        again = client.post("/v1/referrals", json=referral(note="again"), headers=headers)
        assert first.status_code == again.status_code == 200
        assert first.json == again.json and first.json["case_id"] == case_id
        assert again.headers["Idempotent-Replayed"] == "true"
        assert len(db.cases.find_one({"_id": case_id})["linked_referrals"]) == 1
        record = db.cases.find_one({"_id": case_id_for("school-a", "dup-1")})
        assert record["school_ids"] == [] and record["child_slot"].startswith("case:")
        assert not record.get("outbox") and db.idempotency.count_documents({}) == 0
        assert client.get("/v1/referrals", headers=school_a).json["total"] == 1, "not in the school's list"
        assert client.get(f"/v1/referrals/{record['_id']}", headers=school_a).status_code == 404

    def test_a_linked_duplicate_is_replayed_even_after_the_open_case_closed(
        self, client, submit, school_a, db
    ):
        """The link record is the key's trace: a retry after the first case closed must not open
        a new case (it would act twice). Fails with a trace kept only while the child is held."""
        case_id = submit()
        headers = {**school_a, "Idempotency-Key": "dup-2"}
        first = client.post("/v1/referrals", json=referral(note="again"), headers=headers)
        assert first.status_code == 200 and first.json["case_id"] == case_id
        withdrawn = client.post(
            f"/v1/referrals/{case_id}/withdraw", json={"reason": "other"}, headers=school_a
        )
        assert withdrawn.status_code == 200
        again = client.post("/v1/referrals", json=referral(note="again"), headers=headers)
        assert again.status_code == 200 and again.json == first.json
        assert again.headers["Idempotent-Replayed"] == "true"
        assert holders(db) == []

    def test_a_crash_between_the_link_record_and_its_link_is_completed_by_the_retry(
        self, client, submit, school_a, db
    ):
        case_id = submit()
        headers = {**school_a, "Idempotency-Key": "dup-3"}
        first = client.post("/v1/referrals", json=referral(note="again"), headers=headers)
        db.cases.update_one({"_id": case_id}, {"$unset": {"linked_referrals": ""}})  # the link never landed
        again = client.post("/v1/referrals", json=referral(note="again"), headers=headers)
        assert again.json == first.json
        links = db.cases.find_one({"_id": case_id})["linked_referrals"]
        assert [link["case_id"] for link in links] == [case_id_for("school-a", "dup-3")]

    def test_a_new_case_is_replayed_from_the_case_it_opened_with_the_first_answer(
        self, service, client, school_a, db
    ):
        headers = {**school_a, "Idempotency-Key": "new-1"}
        first = client.post("/v1/referrals", json=referral(), headers=headers)
        triaged = incoming("assessment.triaged", first.json["case_id"], "/services/assessment")
        service.handlers["assessment.triaged"](triaged)
        again = client.post("/v1/referrals", json=referral(), headers=headers)
        assert again.status_code == 201 and again.json == first.json  # "submitted", as answered then
        assert again.headers["Idempotent-Replayed"] == "true"
        assert db.idempotency.count_documents({}) == 0, "the case is the key's only trace: no record"
        assert db.cases.find_one({"_id": first.json["case_id"]})["request_hash"]

    def test_a_key_reused_for_another_child_is_refused_and_leaves_no_claim(self, client, school_a, db, clock):
        headers = {**school_a, "Idempotency-Key": "form-7"}
        first = client.post("/v1/referrals", json=referral(), headers=headers)
        assert first.status_code == 201
        clock.advance(hours=25)  # keys are remembered as long as their case, not for a window
        reused = client.post("/v1/referrals", json=referral(student=OTHER_CHILD), headers=headers)
        assert reused.status_code == 409 and "another child" in reused.json["error"]["message"]
        assert holders(db) == [first.json["case_id"]]
        fresh = client.post("/v1/referrals", json=referral(student=OTHER_CHILD), headers=school_a)
        assert fresh.status_code == 201 and fresh.json["case_id"] != first.json["case_id"]

    def test_a_retry_after_a_crash_between_the_linked_case_and_its_link_completes_the_link(
        self, client, school_a, school_b, db
    ):
        first = client.post("/v1/referrals", json=referral(), headers=school_a).json["case_id"]
        headers = {**school_b, "Idempotency-Key": "b-1"}
        linked = client.post("/v1/referrals", json=referral(), headers=headers).json["case_id"]
        db.cases.update_one({"_id": first}, {"$unset": {"linked_referrals": ""}})  # the link never landed
        again = client.post("/v1/referrals", json=referral(), headers=headers)
        assert again.status_code == 201 and again.json["case_id"] == linked
        assert [link["case_id"] for link in db.cases.find_one({"_id": first})["linked_referrals"]] == [linked]
        assert holders(db) == [first]

    def test_former_records_are_pruned_after_the_window(self, service, db, clock):
        db.idempotency.insert_one(
            {"_id": "school-a:old", "hash": "x", "state": "pending", "created_at": clock()}
        )
        clock.advance(hours=23, minutes=59)
        assert housekeeping.prune(db, clock(), extra=service.retained)["idempotency"] == 0
        clock.advance(minutes=2)
        assert housekeeping.prune(db, clock(), extra=service.retained)["idempotency"] == 1

    def test_the_window_is_configurable(self, settings, db, clock):
        service = build(settings.but(extra={"REFERRAL_IDEMPOTENCY_HOURS": "48"}), db=db, clock=clock)
        assert [(r.collection, r.field, r.keep) for r in service.retained] == [
            ("idempotency", "created_at", timedelta(hours=48))
        ]


class TestAnswersWithoutReadingBack:
    def test_amend_and_withdraw_answer_what_a_fresh_read_shows(self, client, submit, school_a, clock):
        case_id = submit()
        clock.advance(minutes=3)
        amended = client.patch(f"/v1/referrals/{case_id}", json={"note": "more"}, headers=school_a)
        assert amended.json == client.get(f"/v1/referrals/{case_id}", headers=school_a).json
        withdrawn = client.post(
            f"/v1/referrals/{case_id}/withdraw", json={"reason": "other", "note": "n"}, headers=school_a
        )
        assert withdrawn.json == client.get(f"/v1/referrals/{case_id}", headers=school_a).json

    def test_applied_mirrors_the_store(self, db):
        doc = {"_id": "x", "version": 3, "attendance": {}, "timeline": [1], "n": {"deep": 1}}
        update = {
            "$set": {"attendance.2025-03-03": {"h": [1]}, "status": "s", "n.deep": 2},
            "$push": {"timeline": 2, "outbox": {"$each": [7, 8]}},
            "$inc": {"version": 1, "count": 2},
        }
        db.docs.insert_one(dict(doc))
        db.docs.update_one({"_id": "x"}, update)
        assert applied(doc, update) == db.docs.find_one({"_id": "x"})
        assert doc["version"] == 3  # the input is left alone
        with pytest.raises(ValueError):
            applied(doc, {"$unset": {"status": ""}})


def test_case_ids_from_keys_are_per_school():
    assert case_id_for("school-a", "k") != case_id_for("school-b", "k")


def test_cases_from_before_child_slot_get_theirs_from_the_former_claims(settings, db, clock, school_a):
    """The one-time backfill: the open case its child's claim names holds the child; the rest do not."""
    service = build(settings, db=db, clock=clock)
    client = service.app.test_client()
    held = client.post("/v1/referrals", json=referral(), headers=school_a).json["case_id"]
    closed = client.post("/v1/referrals", json=referral(student=OTHER_CHILD), headers=school_a).json[
        "case_id"
    ]
    client.post(f"/v1/referrals/{closed}/withdraw", json={"reason": "other"}, headers=school_a)
    index = db.cases.find_one({"_id": held})["child_index"]
    # the database as the previous version left it: claims in `children`, no child_slot, no index
    db.cases.drop_index("child_slot")
    db.cases.update_many({}, {"$unset": {"child_slot": ""}})
    db.migrations.delete_many({})
    db.children.insert_one({"_id": index, "case_id": held})
    build(settings, db=db, clock=clock)
    assert holders(db) == [held]
    assert db.cases.find_one({"_id": closed})["child_slot"] == f"case:{closed}"
    again = client.post("/v1/referrals", json=referral(), headers=school_a)
    assert again.status_code == 200 and again.json["case_id"] == held  # still found as a duplicate


def test_a_closed_case_still_holding_its_child_is_freed_not_linked(submit, db):
    first = submit()
    db.cases.update_one({"_id": first}, {"$set": {"status": "withdrawn"}})  # closed, slot kept
    second = submit()
    assert second != first and holders(db) == [second]
    assert "linked_referrals" not in db.cases.find_one({"_id": first})
