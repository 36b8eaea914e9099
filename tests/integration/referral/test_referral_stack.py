"""The referral service on the real parts: FerretDB for cases (unique claims, conditional updates,
encrypted fields), Kafka for the events in and out.

A unique service name gives a unique consumer group and output topic; a unique input topic
per test keeps runs apart.
"""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from services.referral.bootstrap import build
from services.referral.keys import create_school_key
from shared import kafka
from shared.events import Event, event_type, from_kafka, to_kafka
from shared.runtime import kafka_worker
from tests.support.processes import eventually
from tests.support.secrets_env import kafka_settings
from tests.unit.referral.conftest import PERSONAL, Clock, referral

pytestmark = pytest.mark.integration


def test_cases_on_ferretdb(mongo_db):
    """Indexes, the child claim, idempotency, version-guarded updates and handlers as FerretDB runs them."""
    service = build(kafka_settings("referral"), db=mongo_db, clock=Clock())
    client = service.app.test_client()
    headers = {"Authorization": f"Bearer {create_school_key(mongo_db, 'school-a', 'School A').key}"}
    keyed = {**headers, "Idempotency-Key": "it-1"}
    first = client.post("/v1/referrals", json=referral(), headers=keyed)
    assert first.status_code == 201, first.json
    case_id = first.json["case_id"]
    assert client.post("/v1/referrals", json=referral(), headers=keyed).json == first.json
    assert client.post("/v1/referrals", json=referral(note="other"), headers=keyed).status_code == 409
    linked = client.post("/v1/referrals", json=referral(), headers=headers)
    assert linked.status_code == 200 and linked.json["case_id"] == case_id
    triaged = Event(event_type("assessment.triaged"), "/services/assessment", case_id, {"case_id": case_id})
    service.handlers["assessment.triaged"](triaged)
    service.handlers["assessment.triaged"](triaged)
    case = client.get(f"/v1/referrals/{case_id}", headers=headers).json
    assert case["status"] == "triaged" and len(case["timeline"]) == 3
    assert client.patch(f"/v1/referrals/{case_id}", json={"note": "more"}, headers=headers).status_code == 200
    assert (
        client.post(
            f"/v1/referrals/{case_id}/withdraw", json={"reason": "other"}, headers=headers
        ).status_code
        == 200
    )
    raw = json.dumps(list(mongo_db.cases.find()), default=str)
    assert not [p for p in PERSONAL if p in raw]
    assert client.get("/v1/referrals?status=withdrawn", headers=headers).json["total"] == 1


def test_worker_relays_and_consumes_through_kafka(kafka_bootstrap, mongo_db, unique):
    name, source_topic = f"referral-it-{unique}", f"waymark.it-assessment-{unique}.events"
    settings = kafka_settings(name, kafka_bootstrap=kafka_bootstrap, relay_interval_s=0.05)
    service = dataclasses.replace(build(settings, db=mongo_db), consumes=[source_topic])
    kafka.ensure_topics(kafka_bootstrap, [source_topic])
    client = service.app.test_client()
    headers = {"Authorization": f"Bearer {create_school_key(mongo_db, 'school-a', 'School A').key}"}
    case_id = client.post("/v1/referrals", json=referral(), headers=headers).json["case_id"]
    worker = kafka_worker(service)
    worker.start()
    publisher = kafka.KafkaPublisher(kafka_bootstrap, f"it-{unique}")
    try:
        triaged = Event(
            event_type("assessment.triaged"), "/services/assessment", case_id, {"case_id": case_id}
        )
        publisher.send(source_topic, *to_kafka(triaged))
        publisher.send(source_topic, *to_kafka(triaged))  # a duplicate on the wire
        eventually(lambda: mongo_db.cases.find_one({"_id": case_id})["status"] == "triaged")
        out = kafka.KafkaSource(
            kafka_bootstrap, f"it-reader-{unique}", [service.topic], f"it-reader-{unique}"
        )
        seen: list[Event] = []
        records = []
        deadline = time.monotonic() + 30
        while len(seen) < 3 and time.monotonic() < deadline:
            batch = out.poll(0.5)
            records += batch
            seen += [from_kafka(r.value, r.headers) for r in batch]
        out.close()
        assert sorted(e.name for e in seen) == [
            "referral.status_changed",
            "referral.status_changed",
            "referral.submitted",
        ]
        assert {r.key for r in records} == {case_id.encode()}
        wire = b"".join(r.value for r in records)
        assert not [p for p in PERSONAL if p.encode() in wire]
    finally:
        publisher.close()
        worker.stop()
