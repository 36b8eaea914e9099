"""Writes that can move a family in the queue, with what depends on its place kept in step.

Three fields are derived from an entry and written by the same update that changes it
(one document, so never out of step with it, on FerretDB too):

* ``sort_keys``: per list order (``priority``, ``breach_date``, ``referred_on``) one string
  that sorts exactly like that order and ends with the case id, so it is unique. The
  waitlist pages by it (a keyset cursor, services/scheduling/listing.py) and offers find
  their candidates by ``sort_keys.priority`` (services/scheduling/offers.py).
* ``home_hospital``: the nearest hospital the family accepts, where pressure counts it;
  set by the writers that change eligibility (triage, hospitals changing).
* ``pressure_key``: the running-aggregate bucket the family is counted in, or None when
  it is not queued. After the write, a move from the old key to the new one is journaled
  for the counts' single writer (services/scheduling/pressure_counts.py).
* ``walk_<sort>``: per list order, the small equality bucket the entry sits in, so pages and
  offer candidates are read bucket by bucket (services/scheduling/walks.py). The directory
  documents of a new bucket are inserted before the write.

Writes that cannot change any of them (``waiting`` ↔ ``offered``, markers) stay plain
``update_one`` calls: both states are queued, and no derived field reads anything else.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pymongo.results import UpdateResult

from services.scheduling import pressure_counts, walks
from services.scheduling import repository as repo
from services.scheduling.context import Scheduling
from services.scheduling.domain.geography import travel_km
from services.scheduling.domain.model import BAND_RANK, QUEUED, Hospital
from shared import store
from shared.events import Event

STATES = ("awaiting_triage", "waiting", "offered", "booked", "seen", "followup_needed", "removed")
LAST_DAY = "9999-12-31"
"""Stands in for a missing date (an escalation waiting for its triage): such entries sort last."""
KEY = "pressure_key"


def descending(value: float) -> str:
    """A fixed-width string that sorts in the reverse order of the float (IEEE 754 bits, flipped)."""
    bits = struct.unpack(">Q", struct.pack(">d", float(value)))[0]
    ascending = bits ^ 0xFFFF_FFFF_FFFF_FFFF if bits >> 63 else bits | 1 << 63
    return f"{ascending ^ 0xFFFF_FFFF_FFFF_FFFF:016x}"


def sort_keys(doc: Mapping[str, Any]) -> dict[str, str]:
    """One string per list order; fixed-width parts first, the case id last (see ``queue_key``)."""
    urgent = "0" if doc.get("urgent") else "1"
    rank = BAND_RANK.get(doc.get("band") or "", 9)
    referred = doc.get("referred_on") or LAST_DAY
    target = doc.get("target_date") or LAST_DAY
    case = doc["_id"]
    return {
        "priority": f"{urgent}|{rank}|{referred}|{descending(doc.get('score') or 0)}|{case}",
        "breach_date": f"{target}|{rank}|{case}",
        "referred_on": f"{referred}|{case}",
    }


def home_hospital(
    constraints: Mapping[str, Any] | None, eligible: Iterable[str], hospitals: Iterable[Hospital]
) -> str | None:
    """The nearest acceptable hospital (by id on ties, or when the family gave no district)."""
    located = {h.id: h.location for h in hospitals}
    district = (constraints or {}).get("home_district")
    options = [h for h in eligible if h in located]
    if not options:
        return None
    return min(options, key=lambda h: (travel_km(district, located[h]) or 0.0, h))


def pressure_key(doc: Mapping[str, Any]) -> str | None:
    """``<home>|<band>|<bucket>`` while the family is queued somewhere it can go, else None."""
    if doc.get("state") not in QUEUED:
        return None
    fields = (doc.get("home_hospital"), doc.get("band"), doc.get("referred_on"), doc.get("target_date"))
    if not all(fields):
        return None
    home, band, referred, target = fields
    return pressure_counts.key(home, band, (bool(doc.get("urgent")), referred, target))


def derived(doc: Mapping[str, Any]) -> dict[str, Any]:
    keys = sort_keys(doc)
    return {"sort_keys": keys, KEY: pressure_key(doc), **walks.tokens(doc, keys)}


def _applied(doc: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """The document after ``update``'s top-level ``$set``/``$unset`` (all derived fields read)."""
    after = dict(doc)
    after.update(update.get("$set", {}))
    for name in update.get("$unset", {}):
        after.pop(name, None)
    return after


def insert(ctx: Scheduling, doc: dict[str, Any], events: Sequence[Event] = ()) -> dict[str, Any]:
    """Insert a new entry with its events (DuplicateKeyError as from ``insert_one``) and count it.

    Returns the document as written (with its derived fields).
    """
    doc = {**doc, **derived(doc)}
    walks.ensure(ctx.db, doc, None, ctx.now())
    ctx.writes.insert_one(ctx.db.waitlist, doc, events)
    pressure_counts.move(ctx.db, None, doc[KEY], ctx.now())
    return doc


def update(
    ctx: Scheduling,
    query: dict[str, Any],
    change: dict[str, Any],
    *,
    before: Mapping[str, Any] | None = None,
    events: Sequence[Event] = (),
) -> UpdateResult | None:
    """``update_one(query, change)`` with the derived fields; None when nothing matched ``query``.

    ``before`` is the entry as the caller last read it (else it is read here with ``query``);
    the derived fields are computed from it plus ``change``. The counts move only if the
    write matched, from the key the entry was counted under to its new one (a journaled move).
    """
    if before is None:
        before = ctx.db.waitlist.find_one(query)
        if before is None:
            return None
    fields = derived(_applied(before, change))
    walks.ensure(ctx.db, fields, before, ctx.now())
    update = {**change, "$set": {**change.get("$set", {}), **fields}}
    result = ctx.writes.update_one(ctx.db.waitlist, query, update, events, doc_id=before["_id"])
    if result.matched_count:
        pressure_counts.move(ctx.db, before.get(KEY), fields[KEY], ctx.now())
    return result


BACKFILLED = "waitlist_derived_fields"
WALKS_BACKFILLED = "waitlist_walk_fields"


def backfill(ctx: Scheduling, batch: int = 500) -> int:
    """Give entries written before the derived fields existed their fields (and count them); once per store.

    A one-off O(list) pass, run by the counts' single writer before its first repair until it
    has found nothing left, then marked done in ``meta``.
    """
    if ctx.db.meta.find_one({"_id": BACKFILLED}, {"_id": 1}) is not None:
        return backfill_walks(ctx)
    hospitals = repo.hospitals(ctx.db)
    done, last = 0, ""
    while True:
        legacy = {"sort_keys": {"$exists": False}, "_id": {"$gt": last}}
        found = list(ctx.db.waitlist.find(legacy).sort("_id", 1).limit(batch))
        for doc in found:
            home = home_hospital(doc.get("constraints"), doc.get("eligible_hospitals") or [], hospitals)
            guard = {"_id": doc["_id"], "sort_keys": {"$exists": False}}
            update(ctx, guard, {"$set": {"home_hospital": home}}, before=doc)
        done += len(found)
        if len(found) < batch:
            break
        last = found[-1]["_id"]
    store.upsert(ctx.db.meta, BACKFILLED, {"$set": {"at": ctx.now(), "entries": done}})
    return done + backfill_walks(ctx)


def backfill_walks(ctx: Scheduling) -> int:
    """Give entries written with sort keys but before the walk fields their buckets; once per store.

    The entries' directory documents are then written by ``walks.repair``, which the caller runs
    next (duties.count_step); until then those entries are missing from pages and offers.
    """
    if ctx.db.meta.find_one({"_id": WALKS_BACKFILLED}, {"_id": 1}) is not None:
        return 0
    done = walks.backfill(ctx.db, lambda doc: walks.tokens(doc, doc.get("sort_keys") or sort_keys(doc)))
    store.upsert(ctx.db.meta, WALKS_BACKFILLED, {"$set": {"at": ctx.now(), "entries": done}})
    return done
