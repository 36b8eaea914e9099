"""A worker killed between a case's revision-1 insert and its fold: the redelivery repairs the case.

Assessment writes a new case as ``case_changes`` ``<id>:0000001`` (the atomic claim, with its
events) and then folds it into ``cases`` (the read model the triage queue reads). A kill -9 or
a store outage between the two left cases that scheduling offered but clinicians never saw
(issue 11, item 3). Here a real worker process dies at exactly that line
(``WAYMARK_FAULTS=assessment.case_created_before_fold``, shared.faults); a fresh worker gets
the uncommitted event again, the inbox lets it through (its batch never completed), and
``create`` folds the change it finds instead of skipping: the case is in the queue.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from services.assessment.bootstrap import build
from shared import kafka, topics
from shared.auth import StaffTokens
from shared.events import to_kafka
from shared.faults import FAULT_EXIT
from tests.conftest import MONGO_URI
from tests.integration.assessment.test_assessment_kafka import (
    names,
    referral_event,
    referral_payload,
    worker_env,
)
from tests.support.processes import ROOT, eventually, python_module, running
from tests.support.secrets_env import kafka_settings

pytestmark = pytest.mark.integration

LOGS = ROOT / ".run" / "test-logs"
ONCALL = json.dumps({"default": {"clinician": "it-oncall"}})


def test_a_crash_between_change_and_fold_is_repaired_by_the_redelivered_event(
    kafka_bootstrap, mongo_db, unique
):
    name, source_topic = names(f"crash-{unique}")
    kafka.ensure_topics(kafka_bootstrap, [source_topic, topics.events(name), topics.dead_letters(name)])
    # kafka mode refuses a hospital holding cases with nobody on call
    env = worker_env(name, source_topic, mongo_db.name, kafka_bootstrap, ASSESSMENT_ONCALL=ONCALL)
    case_id = f"case-{unique}-crash"
    publisher = kafka.KafkaPublisher(kafka_bootstrap, f"it-{unique}")
    worker = python_module("tests.integration.assessment.isolated_worker")
    log = LOGS / f"{name}-worker.log"
    try:
        faulty = {**env, "WAYMARK_FAULTS": "assessment.case_created_before_fold"}
        with running(worker, faulty, log) as proc:
            publisher.send(
                source_topic,
                *to_kafka(referral_event("referral.submitted", case_id, referral_payload(case_id))),
            )
            try:
                assert proc.wait(60) == FAULT_EXIT
            except subprocess.TimeoutExpired:
                pytest.fail(f"the worker never reached the crash point:\n{log.read_text()[-3000:]}")

        # The crash left the claim and no case: invisible to clinicians.
        assert mongo_db.case_changes.find_one({"_id": f"{case_id}:0000001"}) is not None
        assert mongo_db.cases.find_one({"_id": case_id}) is None

        settings = kafka_settings(
            name,
            kafka_bootstrap=kafka_bootstrap,
            mongo_uri=MONGO_URI,
            mongo_db=mongo_db.name,
            extra={"ASSESSMENT_ONCALL": ONCALL},
        )
        api = build(settings).app.test_client()
        clinician = {
            "Authorization": f"Bearer {StaffTokens(settings.staff_token_secret).issue('it-clin', 'clinician')}"
        }

        def in_queue() -> bool:
            response = api.get("/v1/triage/queue?limit=100", headers=clinician)
            assert response.status_code == 200, response.get_data(as_text=True)
            return case_id in [item["case_id"] for item in response.get_json()["items"]]

        assert not in_queue()
        with running(worker, env, log) as proc:  # a fresh worker, no fault armed
            eventually(
                lambda: proc.poll() is None and in_queue(),
                timeout=60,
                interval=0.5,
                what="the case in the queue",
            )
        case = mongo_db.cases.find_one({"_id": case_id})
        assert case["rev"] == 1 and case["status"] == "active"
        assert mongo_db.case_changes.count_documents({"case_id": case_id}) == 1  # repaired, not re-created
    finally:
        publisher.close()
