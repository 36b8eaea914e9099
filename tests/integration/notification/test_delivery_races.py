"""A withdrawal racing the senders for one delivery, on the real store (ADR 0003, notification).

FerretDB 1.x applies a conditional update as read-modify-write, so the old withdrawal (an
``update_many`` bumping the attempt number) and a sender's claim could both "win": the
delivery read "withdrawn" while its message went out. Now a withdrawal takes the attempt by
the senders' own unique claim: either a sender holds the attempt (the message was already in
flight, and the withdrawal holds the next one, so it is never retried) or the withdrawal
does, and no sender sends it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notification.repository import INDEXES, PENDING, RETRYING, WITHDRAWN, DeliveryLog
from shared import store
from tests.support.concurrency import race

pytestmark = pytest.mark.integration

WRITERS = 8
ROUNDS = 6
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEASE = NOW + timedelta(seconds=60)


def test_a_withdrawal_and_seven_senders_never_both_take_one_attempt(mongo_db):
    store.ensure_indexes(mongo_db, INDEXES)
    log = DeliveryLog(mongo_db)
    outcomes = []
    for round_ in range(ROUNDS):
        delivery = f"d-{round_}"
        mongo_db.deliveries.insert_one(
            {"_id": delivery, "state": PENDING, "seq": 0, "next_attempt_at": NOW, "case_id": "c-1"}
        )

        def attempt(k: int, delivery: str = delivery) -> object:
            if k == 0:
                return ("withdrawn", log.withdraw({"_id": delivery}, NOW, "cancelled"))
            taken = log.claim(delivery, NOW, LEASE)
            return None if taken is None else ("sending", taken)

        results = race(WRITERS, attempt, lost=())
        sent = [r[1] for r in results if r[0] == "sending"]
        assert len(sent) <= 1, f"round {round_}: several senders took one attempt"
        first = mongo_db.delivery_claims.find_one({"_id": f"{delivery}:0"})
        if sent:  # in flight before the withdrawal: it holds the next attempt, so no retry
            assert "withdrawn" not in first
            log.finish(sent[0], {"$set": {"state": RETRYING, "next_attempt_at": NOW}})
            assert log.claim(delivery, NOW, LEASE) is None
        else:
            assert "withdrawn" in first
        assert mongo_db.deliveries.find_one({"_id": delivery})["state"] == WITHDRAWN
        outcomes.append("in flight" if sent else "withdrawn first")
    print("outcomes:", outcomes)
