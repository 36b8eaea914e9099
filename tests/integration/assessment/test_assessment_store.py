"""Assessment on the real store: races decided by unique inserts, nothing lost, relayed in order.

FerretDB 1.x can let several conditional updates win (docs/adr/0003), so concurrent
clinicians and the consumer writing the same case must still produce one triage
version each and one event each.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from services.assessment import scope
from services.assessment.bootstrap import build
from shared.events import Event, event_type, from_kafka
from shared.memory_bus import MemoryBus
from shared.outbox import OutboxSweeper
from shared.settings import Settings
from tests.unit.assessment.conftest import referral_data

pytestmark = pytest.mark.integration
WRITERS = 6


def submitted(case_id: str) -> Event:
    return Event(event_type("referral.submitted"), "/services/referral", case_id, referral_data(case_id))


@pytest.fixture
def service(mongo_db):
    return build(
        Settings(service="assessment"), db=mongo_db, clock=lambda: datetime(2025, 3, 10, 9, tzinfo=UTC)
    )


def test_redelivered_submission_is_one_triage(service, mongo_db):
    e = submitted("case-int-1")
    service.handlers["referral.submitted"](e)
    service.handlers["referral.submitted"](e)
    assert len(mongo_db.cases.find_one({"_id": "case-int-1"})["triage"]) == 1
    assert mongo_db.case_changes.count_documents({"case_id": "case-int-1"}) == 1


def test_concurrent_overrides_each_get_their_own_version(service, mongo_db):
    service.handlers["referral.submitted"](submitted("case-int-2"))
    casework = service.handlers["referral.amended"].__self__
    errors: list[BaseException] = []

    def clinician(n: int) -> None:
        try:
            casework.override("case-int-2", ("P1", "P2", "P3")[n % 3], None, f"review {n}", f"dr-{n}", None)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=clinician, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    doc = service.handlers["referral.amended"].__self__.repo.get("case-int-2")
    assert [v["version"] for v in doc["triage"]] == list(range(1, WRITERS + 2))
    assert sorted(v["by"] for v in doc["triage"][1:]) == sorted(f"dr-{n}" for n in range(WRITERS))

    bus = MemoryBus()  # nothing was attached while writing: every event waits for the sweeper
    service.outbox.attach(bus)
    OutboxSweeper(service.outbox, grace=timedelta(0)).run_once()
    topic = "waymark.assessment.events"
    versions = [from_kafka(r.value, r.headers).data["triage_version"] for r in bus.records(topic)]
    assert versions == list(range(1, WRITERS + 2))


def test_cases_stored_before_hospital_ids_get_them_at_start_and_the_scoped_queue_finds_them(mongo_db):
    """The backfill on the real store: old documents lack the field the scoped lists filter on."""
    settings = Settings(service="assessment")
    first = build(settings, db=mongo_db, clock=lambda: datetime(2025, 3, 10, 9, tzinfo=UTC))
    for n in range(3):
        first.handlers["referral.submitted"](submitted(f"case-old-{n}"))
    mongo_db.cases.update_many({}, {"$unset": {"hospital_ids": ""}})  # as stored before the field,
    mongo_db.meta.delete_one({"_id": scope.BACKFILLED})  # when no backfill had run
    assert mongo_db.cases.count_documents({"hospital_ids": "h-east"}) == 0
    build(settings, db=mongo_db, clock=lambda: datetime(2025, 3, 10, 9, tzinfo=UTC))  # a restart
    assert mongo_db.cases.count_documents({"hospital_ids": "h-east"}) == 3
    repo = first.handlers["referral.amended"].__self__.repo
    items, total = repo.queue(None, 10, 0, {"hospital_ids": "h-west"})
    assert total == 3 and len(items) == 3
    assert repo.queue(None, 10, 0, {"hospital_ids": "h-north"}) == ([], 0)
