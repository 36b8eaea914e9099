"""Store round trips per school request, counted on the wire (pymongo command monitoring) against FerretDB.

Every command the API sends is a round trip to the store, and on a store that scans they
are what a request costs. These counts are the budget docs/services/referral.md states;
a change that adds a round trip to a route fails here. A write that carries events first
records them as intents in ``outbox_pending`` (shared.outbox); forgetting the intents once
published happens after the response, batched by the writer's dispatcher, so it is not
counted here (the app runs with no bus attached, as a unit under test).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pymongo import MongoClient

from services.referral.bootstrap import build
from services.referral.keys import create_school_key
from shared.events import Event, event_type
from shared.settings import Settings
from tests.conftest import MONGO_URI
from tests.support.commands import Commands
from tests.unit.referral.conftest import Clock, referral

pytestmark = pytest.mark.integration


@pytest.fixture
def counted(mongo_db) -> Iterator[tuple[object, Commands]]:
    """The referral app on FerretDB through a client whose every command is recorded (no bus attached)."""
    commands = Commands()
    client: MongoClient = MongoClient(MONGO_URI, tz_aware=True, event_listeners=[commands])
    db = client[mongo_db.name]
    service = build(Settings(service="referral"), db=db, clock=Clock())
    yield service, commands
    client.close()


def trips(commands: Commands, call) -> tuple[object, list[str]]:
    commands.clear()
    result = call()
    return result, list(commands.sent)


def test_round_trips_of_reads_and_new_cases(counted, mongo_db):
    service, commands = counted
    app = service.app.test_client()
    headers = {"Authorization": f"Bearer {create_school_key(mongo_db, 'school-a', 'School A').key}"}
    other = {"Authorization": f"Bearer {create_school_key(mongo_db, 'school-b', 'School B').key}"}

    response, sent = trips(commands, lambda: app.get("/v1/referrals", headers=headers))
    assert response.status_code == 200
    assert sent == ["find school_keys", "aggregate cases", "find cases"], "a key's first request looks it up"

    response, sent = trips(commands, lambda: app.get("/v1/referrals", headers=headers))
    assert sent == ["aggregate cases", "find cases"], "then the key is cached: the page (count, find) only"

    response, sent = trips(commands, lambda: app.post("/v1/referrals", json=referral(), headers=headers))
    assert response.status_code == 201
    assert sent == ["insert outbox_pending", "insert cases"], (
        "a new case: the events' intents, then the case, whose unique child_slot claims the child"
    )
    case_id = response.json["case_id"]

    response, sent = trips(commands, lambda: app.get(f"/v1/referrals/{case_id}", headers=headers))
    assert response.status_code == 200
    assert sent == ["find cases"], "a case read: one find"
    assert commands.filters == [{"_id": case_id}], "by _id alone; the school is checked on the document"

    app.get("/v1/referrals", headers=other)
    response, sent = trips(commands, lambda: app.get(f"/v1/referrals/{case_id}", headers=other))
    assert response.status_code == 404
    assert sent == ["find cases"], "another school's case: the same read, refused on the document"
    assert commands.filters == [{"_id": case_id}]

    keyed = {**headers, "Idempotency-Key": "rt-1"}
    second = referral(student={**referral()["student"], "name": "Zhao Lei"})
    response, sent = trips(commands, lambda: app.post("/v1/referrals", json=second, headers=keyed))
    assert response.status_code == 201
    assert sent == ["insert outbox_pending", "insert cases"], (
        "keyed: no round trip more; the case's insert at the key's derived id is the duplicate check"
    )

    response, sent = trips(commands, lambda: app.post("/v1/referrals", json=second, headers=keyed))
    assert response.status_code == 201 and response.headers["Idempotent-Replayed"] == "true"
    assert sent == ["insert outbox_pending", "insert cases", "delete outbox_pending", "find cases"], (
        "a replay: the insert clashes on _id, its intents are withdrawn, the case it names is read"
    )


def test_round_trips_of_duplicates_and_changes(counted, mongo_db):
    service, commands = counted
    app = service.app.test_client()
    headers = {"Authorization": f"Bearer {create_school_key(mongo_db, 'school-a', 'School A').key}"}
    case_id = app.post("/v1/referrals", json=referral(), headers=headers).json["case_id"]
    keyed = {**headers, "Idempotency-Key": "rt-2"}
    second = referral(student={**referral()["student"], "name": "Zhao Lei"})
    second_id = app.post("/v1/referrals", json=second, headers=keyed).json["case_id"]

    response, sent = trips(commands, lambda: app.post("/v1/referrals", json=referral(), headers=headers))
    assert response.status_code == 200 and response.json["duplicate"] is True
    assert sent == [
        "insert outbox_pending",
        "insert cases",
        "delete outbox_pending",
        "find cases",
        "insert case_versions",
        "update cases",
    ], (
        "linked duplicate: the insert clashes on child_slot, its intents are withdrawn, the open case read, "
        "the link is its next version (claim, fold)"
    )

    linked = {**headers, "Idempotency-Key": "rt-link"}
    response, sent = trips(commands, lambda: app.post("/v1/referrals", json=referral(), headers=linked))
    assert response.status_code == 200
    assert sent == [
        "insert outbox_pending",
        "insert cases",
        "delete outbox_pending",
        "find cases",
        "find cases",
        "insert cases",
        "insert case_versions",
        "update cases",
    ], (
        "a keyed link: the clash, no case at the key's id, the open case, its link record, the link (a claimed version, then its fold)"
    )

    service.handlers["returnplan.updated"](
        Event(event_type("returnplan.updated"), "/services/assessment", second_id, {"case_id": second_id})
    )
    report = {"week_start": "2025-03-03", "hours_by_day": [0, 1, 1.5, 2, 0]}
    response, sent = trips(
        commands, lambda: app.post(f"/v1/referrals/{second_id}/attendance", json=report, headers=headers)
    )
    assert response.status_code == 202
    assert sent == ["find cases", "insert outbox_pending", "insert case_versions", "update cases"], (
        "attendance: read, intents, claim the next version (it carries the events), fold it into the case"
    )

    response, sent = trips(commands, lambda: app.get("/v1/webhook", headers=headers))
    assert response.status_code == 404 and sent == ["find schools"], "webhook: the school document"

    response, sent = trips(
        commands, lambda: app.patch(f"/v1/referrals/{case_id}", json={"note": "more"}, headers=headers)
    )
    assert response.status_code == 200 and response.json["referral"]["note"] == "more"
    assert sent == ["find cases", "insert outbox_pending", "insert case_versions", "update cases"], (
        "amend: read, intents, claim, fold"
    )

    response, sent = trips(
        commands,
        lambda: app.post(f"/v1/referrals/{case_id}/withdraw", json={"reason": "other"}, headers=headers),
    )
    assert response.status_code == 200 and response.json["status"] == "withdrawn"
    assert sent == ["find cases", "insert outbox_pending", "insert case_versions", "update cases"], (
        "withdraw: claim, and the fold also releases the child (child_slot)"
    )

    response, sent = trips(commands, lambda: app.get(f"/v1/referrals/{case_id}/fhir", headers=headers))
    assert response.status_code == 200
    assert sent == ["find cases", "find schools"], "FHIR: the case and the school's name"

    response, sent = trips(
        commands, lambda: app.get(f"/v1/referrals/{case_id}/episode-of-care/fhir", headers=headers)
    )
    assert response.status_code == 200 and response.json["status"] == "cancelled"  # withdrawn above
    assert sent == ["find cases"], "EpisodeOfCare: the case alone"
