"""HZ-15's control: a raise of a waitlisted child's priority that another write lost is put back.

FerretDB 1.x applies every update as read → modify → write of the whole document (ADR 0003,
hazard 2). A waitlist entry is written by the consumer's handlers and also by writers outside
that thread (``calendar_ops.refresh_eligibility`` from a read taken before its loop, the orphan
duty, booking, offers, expedite, …); when two overlap, the later write keeps the older fields
of the earlier. A lost raise (a re-triage to a higher band, an escalation's ``urgent``) would
leave an escalated child in the routine order.

This is a detective and corrective control, not a preventive one (see docs/clinical-safety.md):

* **record**: before the consumer applies a re-triage or an escalation to an existing entry,
  it inserts the event into ``entry_raises`` (insert-only, ``_id`` ``<case>:t<version>`` or
  ``<case>:e<event id>``, so a redelivery records nothing new);
* **repair**: the counts' single writer (leased, services/scheduling/duties.py) reads the
  records of the last ``WINDOW`` (by ten-minute bucket, keyset-paged by ``key``, bounded), reads
  their entries in one ``$in`` and replays the consumer's own handler for any record the
  entry does not hold: a triage whose version is newer than the entry's, an escalation of an
  entry that is not ``urgent``. The handlers are idempotent (version guard, derived event ids),
  so a replay of a raise that was not lost, or that lands at the same moment, changes nothing.
  Events stay exactly-once: a replayed triage re-emits ``waitlist.entry_added`` with the id the
  original derived (consumers dedupe); while the original's outbox intent is still pending
  (same id, a unique key) the replay writes without it, the original's dispatch being under way.

A record stays in the window for ``WINDOW``, so a raise lost to a writer that read the entry
up to that long before is found again by a later pass; the repair's own write can be lost
too, and is then repaired by the next pass.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter
from pymongo.errors import DuplicateKeyError

from services.scheduling.context import Scheduling
from shared.events import Event

log = logging.getLogger(__name__)

COLLECTION = "entry_raises"
WINDOW = timedelta(minutes=30)
"""How far back a pass looks: far longer than any writer's read → write (a refresh pass of the list)."""
BATCH = 200
BUCKET_S = 600
"""Records are read by ten-minute ``bucket`` (an equality the store can serve from its index)."""

REPAIRED = Counter(
    "waymark_scheduling_raises_repaired",
    "Raises of a waitlist entry's priority that another write had lost, re-applied (HZ-15)",
    ["kind"],
)


def _bucket(at: datetime) -> int:
    return int(at.timestamp() // BUCKET_S)


def _stamp(at: datetime) -> str:
    """A fixed-width UTC time, so strings sort as times do (isoformat drops zero microseconds)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _key(ctx: Scheduling, record_id: str) -> str:
    """Sorts by the time recorded, then by id (unique): the repair's keyset cursor."""
    return f"{_stamp(ctx.now())}|{record_id}"


def record(ctx: Scheduling, kind: str, message: Event, version: int | None = None) -> None:
    """Keep the event of a raise about to be applied (``kind`` ``triage`` with its version, or
    ``escalation``); a redelivery of the same event records nothing new."""
    case_id = message.data["case_id"]
    record_id = f"{case_id}:t{version:07d}" if kind == "triage" else f"{case_id}:e{message.id}"
    doc = {
        "_id": record_id,
        "case_id": case_id,
        "kind": kind,
        "version": version,
        "event": message.to_dict(),
        "bucket": _bucket(ctx.now()),
        "key": _key(ctx, record_id),
        "at": ctx.now(),
    }
    with contextlib.suppress(DuplicateKeyError):  # a redelivery: already recorded
        ctx.db[COLLECTION].insert_one(doc)


def lost(entry: Mapping[str, Any] | None, rec: Mapping[str, Any]) -> bool:
    """Does ``entry`` not hold the raise ``rec`` recorded? (A removed entry needs no raise.)"""
    if entry is None or entry.get("state") == "removed":
        return False
    if rec["kind"] == "triage":
        return (entry.get("triage_version") or 0) < rec["version"]
    return not entry.get("urgent")


def repair(ctx: Scheduling) -> int:
    """Replay every recorded raise of the last ``WINDOW`` that its entry lost; how many.

    Read bucket by bucket (``bucket`` equality, then ``key`` range: one index, and the
    equality is what FerretDB pushes down), each keyset-paged by ``key`` in ``BATCH``es.
    """
    since = ctx.now() - WINDOW
    first, last = _bucket(since), _bucket(ctx.now())
    return sum(_repair_bucket(ctx, b, _stamp(since)) for b in range(first, last + 1))


def _repair_bucket(ctx: Scheduling, bucket: int, cursor: str) -> int:
    from services.scheduling import waitlist  # the handlers import this module

    replay = {"triage": waitlist.on_triaged, "escalation": waitlist.on_escalated}
    repaired = 0
    while True:
        query = {"bucket": bucket, "key": {"$gt": cursor}}
        page = list(ctx.db[COLLECTION].find(query).sort("key", 1).limit(BATCH))
        cases = list({rec["case_id"] for rec in page})
        found = {doc["_id"]: doc for doc in ctx.db.waitlist.find({"_id": {"$in": cases}})} if page else {}
        for rec in page:
            if not lost(found.get(rec["case_id"]), rec):
                continue
            log.warning("HZ-15: entry %s had lost its %s; re-applying", rec["case_id"], rec["kind"])
            try:
                _replay(ctx, replay, rec)
            except Exception:  # one bad record must not stop the counts loop's other work
                log.exception("HZ-15: re-applying %s failed; retried next pass", rec["_id"])
                continue
            REPAIRED.labels(rec["kind"]).inc()
            repaired += 1
        if len(page) < BATCH:
            return repaired
        cursor = page[-1]["key"]


def _replay(ctx: Scheduling, replay: Mapping[str, Any], rec: Mapping[str, Any]) -> None:
    """The consumer's handler for the recorded event; a triage whose original event is still in
    flight (its outbox intent, keyed by the same derived id, is pending) is re-applied without it."""
    from services.scheduling import waitlist

    event = Event.from_dict(rec["event"])
    try:
        replay[rec["kind"]](ctx, event)
    except DuplicateKeyError:
        if rec["kind"] != "triage":
            raise
        waitlist.on_triaged(ctx, event, emit=False)
