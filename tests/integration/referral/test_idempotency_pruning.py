"""Idempotency records are pruned on FerretDB by the referral service's registration with
shared.housekeeping: old records go, records inside the window stay and still answer replays."""

from __future__ import annotations

import pytest

from services.referral.bootstrap import build
from services.referral.keys import create_school_key
from shared import housekeeping
from tests.support.secrets_env import kafka_settings
from tests.unit.referral.conftest import Clock, referral

pytestmark = pytest.mark.integration


def test_old_records_are_pruned_and_fresh_ones_still_answer(mongo_db):
    clock = Clock()
    service = build(kafka_settings("referral"), db=mongo_db, clock=clock)
    client = service.app.test_client()
    school = {"Authorization": f"Bearer {create_school_key(mongo_db, 'school-a', 'School A').key}"}
    other_child = referral(student={**referral()["student"], "name": "Zhao Lei"})

    old = client.post("/v1/referrals", json=referral(), headers={**school, "Idempotency-Key": "old"})
    assert old.status_code == 201
    clock.advance(hours=23)
    fresh_headers = {**school, "Idempotency-Key": "fresh"}
    fresh = client.post("/v1/referrals", json=other_child, headers=fresh_headers)
    link_headers = {**school, "Idempotency-Key": "fresh-link"}
    linked = client.post("/v1/referrals", json=referral(note="again"), headers=link_headers)
    assert (fresh.status_code, linked.status_code) == (201, 200)
    clock.advance(hours=1, minutes=1)  # "old" is 24 h 1 min old, the others 1 min

    assert housekeeping.prune(mongo_db, clock(), extra=service.retained) == {
        "processed_events": 0,
        "processed_batches": 0,
        "idempotency": 1,
    }
    assert sorted(r["_id"] for r in mongo_db.idempotency.find()) == ["school-a:fresh", "school-a:fresh-link"]

    for headers, body, first in (
        (fresh_headers, other_child, fresh),
        (link_headers, referral(note="again"), linked),
    ):
        again = client.post("/v1/referrals", json=body, headers=headers)
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert (again.status_code, again.json) == (first.status_code, first.json)
    assert len(mongo_db.cases.find_one({"_id": old.json["case_id"]})["linked_referrals"]) == 1
    assert mongo_db.cases.count_documents({}) == 2
