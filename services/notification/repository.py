"""The delivery log and the reminders, in the service's own database.

Both are single-document state machines. FerretDB has no transactions and applies a
conditional ``update_one`` as read-modify-write, so two writers that both read the old
state both "win" (ADR 0003): every decision two parties can race for is an insert on a
unique key instead: an attempt's ``<delivery>:<seq>`` claim (a sender's, or a withdrawal's)
and a reminder's withdrawal marker. The state fields are the view written after the
decision. The events a change causes ride in the same update (shared.outbox). No contact
details are stored: deliveries keep a one-way recipient reference and a masked address.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from shared.events import Event
from shared.outbox import Outbox
from shared.store import Index

DELIVERIES, REMINDERS, CLAIMS = "deliveries", "reminders", "delivery_claims"
WITHDRAWALS = "reminder_withdrawals"
# Delivery states: pending → sending → sent | retrying → … → dead; withdrawn when no longer wanted.
PENDING, SENDING, SENT, RETRYING, DEAD, WITHDRAWN = (
    "pending",
    "sending",
    "sent",
    "retrying",
    "dead",
    "withdrawn",
)
STATES = (PENDING, SENDING, SENT, RETRYING, DEAD, WITHDRAWN)
OPEN = (PENDING, RETRYING)
SCHEDULED, FIRED = "scheduled", "fired"

INDEXES = {
    DELIVERIES: [
        Index([("state", ASCENDING), ("next_attempt_at", ASCENDING)], name="due"),
        Index([("case_id", ASCENDING), ("created_at", DESCENDING)], name="by_case"),
        Index([("created_at", DESCENDING)], name="recent"),
    ],
    REMINDERS: [
        Index([("state", ASCENDING), ("due_at", ASCENDING)], name="due"),
        Index([("appointment_id", ASCENDING)], name="by_appointment"),
        Index([("case_id", ASCENDING)], name="by_case"),
    ],
}
PUBLIC_FIELDS = {"outbox": 0}


class DeliveryLog:
    def __init__(self, db: Database, outbox: Outbox | None = None) -> None:
        self.col = db[DELIVERIES]
        self.claims = db[CLAIMS]
        self._outbox = outbox

    def create(self, doc: dict[str, Any]) -> bool:
        """Insert a new delivery; False if one with this key exists (a redelivered event)."""
        try:
            self.col.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    def get(self, delivery_id: str) -> dict[str, Any] | None:
        return self.col.find_one({"_id": delivery_id}, PUBLIC_FIELDS)

    def claim(
        self,
        delivery_id: str,
        now: datetime,
        lease_until: datetime,
        created: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Take a due delivery for one attempt; None if another worker has it or it is not due.

        FerretDB 1.x applies updates as read-modify-write, so a conditional update cannot
        arbitrate between two workers; a unique insert can. Each attempt has a sequence
        number and whoever inserts ``<id>:<seq>`` into the claims collection owns it.
        ``created``: the document as the caller just inserted it, already ``sending`` for its
        first attempt (services/notification/sender.py, ``plan``): that unique insert was the
        claim, so it is returned as claimed with no round trip.
        """
        if created is not None:
            if created.get("seq") == 0 and created.get("state") == SENDING:
                return {k: v for k, v in created.items() if k != "outbox"}
            created = None
        doc = self.col.find_one(
            {"_id": delivery_id, "state": {"$in": list(OPEN)}, "next_attempt_at": {"$lte": now}},
            PUBLIC_FIELDS,
        )
        if doc is None:
            return None
        key = f"{delivery_id}:{doc['seq']}"
        try:
            self.claims.insert_one({"_id": key, "at": now})
        except DuplicateKeyError:
            self._after_clash(key, doc, now, now - (lease_until - now))
            return None
        result = self.col.update_one(
            {"_id": delivery_id, "seq": doc["seq"], "state": {"$in": list(OPEN)}},
            {"$set": {"state": SENDING, "lease_until": lease_until, "updated_at": now}},
        )
        return {**doc, "state": SENDING} if result.modified_count == 1 else None

    def _after_clash(self, key: str, doc: Mapping[str, Any], now: datetime, older_than: datetime) -> None:
        """Someone else holds this attempt: a withdrawal (close the delivery, as it would), or a
        sender; one whose worker died before marking the delivery is moved past."""
        claim = self.claims.find_one({"_id": key})
        if claim is None:
            return
        if "withdrawn" in claim:
            self._close_withdrawn(doc["_id"], doc["seq"], claim["withdrawn"], now)
        elif _aware(claim["at"]) < older_than:
            self.col.update_one(
                {"_id": doc["_id"], "seq": doc["seq"], "state": {"$in": list(OPEN)}}, {"$inc": {"seq": 1}}
            )

    def finish(self, doc: Mapping[str, Any], update: Mapping[str, Any], events: Sequence[Event] = ()) -> None:
        """Close the attempt ``doc`` claimed, with the events it causes; the sequence number moves on."""
        change = dict(update)
        change["$inc"] = {**change.get("$inc", {}), "seq": 1}
        query = {"_id": doc["_id"], "seq": doc["seq"], "state": SENDING}
        if events:
            assert self._outbox is not None, "a delivery log that emits events needs the service's outbox"
            self._outbox.update_one(self.col, query, change, events)
        else:
            self.col.update_one(query, change)

    def due(self, now: datetime, limit: int = 100) -> list[str]:
        """The open deliveries whose attempt is due, oldest first.

        One equality query per open state rather than ``state $in``: a store that pushes only
        equality to its indexes (FerretDB 1.x) then reads the open deliveries alone, not the
        whole log, which only grows.
        """
        found = [
            d
            for state in OPEN
            for d in self.col.find({"state": state, "next_attempt_at": {"$lte": now}}, {"next_attempt_at": 1})
            .sort("next_attempt_at", 1)
            .limit(limit)
        ]
        found.sort(key=lambda d: d["next_attempt_at"])
        return [d["_id"] for d in found[:limit]]

    def release_stale(self, now: datetime) -> int:
        """Attempts whose worker died mid-send go back to retrying (at-least-once, by design)."""
        released = 0
        for doc in self.col.find({"state": SENDING, "lease_until": {"$lt": now}}, {"seq": 1}):
            result = self.col.update_one(
                {"_id": doc["_id"], "seq": doc["seq"], "state": SENDING},
                {"$set": {"state": RETRYING, "next_attempt_at": now, "updated_at": now}, "$inc": {"seq": 1}},
            )
            released += result.modified_count
        return released

    def release_unattempted(self, delivery_ids: Iterable[str], now: datetime) -> None:
        """New deliveries inserted already claimed for their first attempt (``sending``, seq 0)
        that their creator never attempted (its handling failed first): due again now, on the
        next attempt number, exactly as :meth:`release_stale` would do after the lease."""
        for delivery_id in delivery_ids:
            self.col.update_one(
                {"_id": delivery_id, "seq": 0, "state": SENDING},
                {"$set": {"state": RETRYING, "next_attempt_at": now, "updated_at": now}, "$inc": {"seq": 1}},
            )

    def withdraw(self, query: Mapping[str, Any], now: datetime, reason: str) -> int:
        """Withdraw the matching deliveries not yet sent; how many withdrawals were registered.

        A withdrawal takes the attempt a sender would take next, by the same unique claim, so
        exactly one of them has it. An attempt already in flight (its claim is a sender's)
        cannot be called back: the withdrawal claims the attempt after it, so a failed send is
        never retried. Whoever meets a withdrawal's claim closes the delivery.
        """
        registered = 0
        for doc in self.col.find({**query, "state": {"$in": [*OPEN, SENDING]}}, {"seq": 1, "state": 1}):
            first = doc["seq"] if doc["state"] in OPEN else doc["seq"] + 1
            for seq in (first, first + 1):
                try:
                    self.claims.insert_one({"_id": f"{doc['_id']}:{seq}", "at": now, "withdrawn": reason})
                except DuplicateKeyError:
                    continue  # that attempt is a sender's (in flight) or already withdrawn
                self._close_withdrawn(doc["_id"], seq, reason, now)
                registered += 1
                break
        return registered

    def _close_withdrawn(self, delivery_id: str, seq: int, reason: str, now: datetime) -> None:
        """The view of a withdrawal: only once the delivery reaches the withdrawn attempt (a
        send in flight finishes first; its retry, at ``seq``, is closed by whoever meets the claim)."""
        self.col.update_one(
            {"_id": delivery_id, "seq": seq, "state": {"$in": list(OPEN)}},
            {"$set": {"state": WITHDRAWN, "last_error": reason, "updated_at": now}, "$inc": {"seq": 1}},
        )

    def replay(self, delivery_id: str, now: datetime) -> bool:
        """A dead letter gets a fresh round of attempts; its history is kept."""
        result = self.col.update_one(
            {"_id": delivery_id, "state": DEAD},
            {
                "$set": {"state": PENDING, "attempts": 0, "next_attempt_at": now, "updated_at": now},
                "$inc": {"replays": 1},
            },
        )
        return result.modified_count == 1

    def search(self, filters: Mapping[str, Any], limit: int, skip: int = 0) -> list[dict[str, Any]]:
        cursor = self.col.find(dict(filters), PUBLIC_FIELDS).sort("created_at", -1).skip(skip).limit(limit)
        return list(cursor)


def _aware(value: datetime) -> datetime:
    """Clients without tz_aware hand back naive UTC datetimes."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class ReminderStore:
    """Reminders, and the markers of their withdrawal.

    Firing and withdrawing a reminder race (a scheduler pass against a cancellation). The
    marker (a unique insert) is what counts: the pass checks it after planning the
    deliveries and withdraws them itself when it finds one; a withdrawal made after that
    check finds the deliveries already planned and withdraws them (DeliveryLog.withdraw).
    """

    def __init__(self, db: Database) -> None:
        self.col = db[REMINDERS]
        self.withdrawals = db[WITHDRAWALS]

    def schedule(self, doc: dict[str, Any]) -> bool:
        try:
            self.col.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    def withdraw(self, query: Mapping[str, Any], now: datetime, reason: str) -> int:
        """Mark every matching scheduled reminder withdrawn (marker first, then the view)."""
        ids = [r["_id"] for r in self.col.find({**query, "state": SCHEDULED}, {"_id": 1})]
        for reminder_id in ids:
            with suppress(DuplicateKeyError):  # withdrawn already: the view below is the same write
                self.withdrawals.insert_one({"_id": reminder_id, "at": now, "reason": reason})
            self.col.update_one(
                {"_id": reminder_id, "state": SCHEDULED},
                {"$set": {"state": "withdrawn", "withdrawn_reason": reason, "updated_at": now}},
            )
        return len(ids)

    def withdrawal(self, reminder_id: str) -> dict[str, Any] | None:
        return self.withdrawals.find_one({"_id": reminder_id})

    def due(self, now: datetime, limit: int = 100) -> list[dict[str, Any]]:
        return list(
            self.col.find({"state": SCHEDULED, "due_at": {"$lte": now}}).sort("due_at", 1).limit(limit)
        )

    def fired(self, reminder_id: str, now: datetime) -> None:
        """The view after a pass planned its deliveries and found no withdrawal marker."""
        self.col.update_one(
            {"_id": reminder_id, "state": SCHEDULED}, {"$set": {"state": FIRED, "fired_at": now}}
        )

    def for_case(self, case_id: str) -> list[dict[str, Any]]:
        return list(self.col.find({"case_id": case_id}).sort("due_at", 1))
