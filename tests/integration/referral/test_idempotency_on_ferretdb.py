"""Idempotency on FerretDB: records of the former protocol are pruned by the referral service's
registration with shared.housekeeping, while keys keep answering from the cases they opened;
concurrent requests with one key open exactly one case."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from services.referral.bootstrap import build
from services.referral.idempotency import case_id_for
from services.referral.keys import create_school_key
from shared import housekeeping
from tests.support.secrets_env import kafka_settings
from tests.unit.referral.conftest import Clock, referral

pytestmark = pytest.mark.integration


def test_former_records_are_pruned_and_keys_still_answer(mongo_db):
    clock = Clock()
    service = build(kafka_settings("referral"), db=mongo_db, clock=clock)
    client = service.app.test_client()
    school = {"Authorization": f"Bearer {create_school_key(mongo_db, 'school-a', 'School A').key}"}
    other_child = referral(student={**referral()["student"], "name": "Zhao Lei"})
    mongo_db.idempotency.insert_one(
        {"_id": "school-a:former", "hash": "x", "state": "done", "created_at": clock()}
    )

    old_headers = {**school, "Idempotency-Key": "old"}
    old = client.post("/v1/referrals", json=referral(), headers=old_headers)
    assert old.status_code == 201
    clock.advance(hours=23)
    link_headers = {**school, "Idempotency-Key": "fresh-link"}
    linked = client.post("/v1/referrals", json=referral(note="again"), headers=link_headers)
    assert linked.status_code == 200
    clock.advance(hours=1, minutes=1)  # the former record is 24 h 1 min old

    assert housekeeping.prune(mongo_db, clock(), extra=service.retained) == {
        "processed_events": 0,
        "processed_batches": 0,
        "idempotency": 1,
    }
    assert mongo_db.idempotency.count_documents({}) == 0

    for headers, body, first in (
        (old_headers, referral(), old),
        (link_headers, referral(note="again"), linked),
    ):
        again = client.post("/v1/referrals", json=body, headers=headers)
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert (again.status_code, again.json) == (first.status_code, first.json)
    assert len(mongo_db.cases.find_one({"_id": old.json["case_id"]})["linked_referrals"]) == 1
    assert client.get("/v1/referrals", headers=school).json["total"] == 1
    assert client.post("/v1/referrals", json=other_child, headers=old_headers).status_code == 409


@pytest.mark.parametrize("linked", [False, True], ids=["new case", "linked duplicate"])
def test_concurrent_requests_with_one_key_act_once(mongo_db, linked):
    """Eight requests with one key at once on FerretDB: one case (or one link record and one
    link), every answer the same. Only the unique-key insert decides (no transactions)."""
    service = build(kafka_settings("referral"), db=mongo_db, clock=Clock())
    school = {"Authorization": f"Bearer {create_school_key(mongo_db, 'school-a', 'School A').key}"}
    if linked:
        open_case = service.app.test_client().post("/v1/referrals", json=referral(), headers=school)
        assert open_case.status_code == 201
    headers = {**school, "Idempotency-Key": "at-once"}

    def post(_: int):
        return service.app.test_client().post("/v1/referrals", json=referral(note="n"), headers=headers)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, range(8)))
    assert {a.status_code for a in answers} == {200 if linked else 201}
    assert len({a.json["case_id"] for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") != "true" for a in answers) == 1
    assert mongo_db.cases.count_documents({}) == 2 if linked else 1
    assert mongo_db.cases.count_documents({"_id": case_id_for("school-a", "at-once")}) == 1
    if linked:
        [first] = mongo_db.cases.find({"school_ids": "school-a"})
        assert len(first["linked_referrals"]) == 1
