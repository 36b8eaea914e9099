"""Running counts of queued families per (home hospital, band, bucket), so pressure never reads the list.

Two collections:

* ``pressure_counts``: one document per hospital and band, ``_id`` = ``<hospital>|<band>``,
  ``buckets`` = {``<u|n>:<referred_on>:<target_date>``: families}. Written by ONE writer.
* ``pressure_moves``: a journal. Every write that changes an entry's ``pressure_key``
  (services/scheduling/entries.py, in the same update as the change) then inserts one
  move {from, to}. Inserts are the one write FerretDB 1.x makes atomic, so concurrent
  writers never lose a move (``$inc`` from 8 concurrent writers on one document kept
  19 of 40 increments in a probe on FerretDB 1.24).

A reader takes the counts plus the pending moves (:func:`read`), so it sees every write
at once. The single writer (:func:`apply`, the worker's counts loop in
services/scheduling/duties.py, under a lease) folds the journal into the counts: it
deletes the moves it read, then ``$inc``s their sum, one update per touched document.

Failure modes, all put right by :func:`repair` (the same loop, every
``SCHEDULING_PRESSURE_REPAIR_S``, default 600 s): a crash between an entry's write and its
move, or between the applier's delete and its ``$inc``, loses that move; a read racing
the applier can miss one pass's moves for that instant; two workers holding the lease at
once around a lease handover could both apply one batch. :func:`repair` recomputes the
counts with one aggregation (``$match`` on the queued states, ``$group`` by
``pressure_key`` with ``$sum``, the operators FerretDB has) and corrects the difference;
an entry written while the repair runs can be mis-corrected until the next repair.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.scheduling.domain.model import QUEUED
from services.scheduling.domain.pressure import Bucket

log = logging.getLogger(__name__)

COUNTS = "pressure_counts"
MOVES = "pressure_moves"
APPLY_BATCH = 1000
PENDING_WARN = 10_000
"""Pending moves a reader folds in before warning that the applier is behind (or not running)."""


def bucket_name(bucket: tuple[bool, str, str]) -> str:
    urgent, referred, target = bucket
    return f"{'u' if urgent else 'n'}:{referred}:{target}"


def key(home: str, band: str, bucket: tuple[bool, str, str]) -> str:
    return f"{home}|{band}|{bucket_name(bucket)}"


def doc_id(hospital_id: str, band: str) -> str:
    return f"{hospital_id}|{band}"


def _split(pressure_key: str) -> tuple[str, str]:
    """(counts document id, bucket field) of a ``pressure_key``."""
    home, band, bucket = pressure_key.rsplit("|", 2)
    return doc_id(home, band), bucket


def parse_bucket(name: str) -> Bucket:
    urgent, referred, target = name.split(":")
    return (urgent == "u", date.fromisoformat(referred), date.fromisoformat(target))


def move(db: Database, old: str | None, new: str | None, at: datetime) -> None:
    """Journal one family leaving bucket ``old`` for bucket ``new`` (either may be None)."""
    if old != new:
        db[MOVES].insert_one({"_id": uuid.uuid4().hex, "from": old, "to": new, "at": at})


def _deltas(moves: Iterable[dict[str, Any]]) -> dict[str, Counter[str]]:
    found: dict[str, Counter[str]] = defaultdict(Counter)
    for m in moves:
        if m.get("from"):
            counts_id, bucket = _split(m["from"])
            found[counts_id][bucket] -= 1
        if m.get("to"):
            counts_id, bucket = _split(m["to"])
            found[counts_id][bucket] += 1
    return found


def _pending(db: Database) -> list[dict[str, Any]]:
    moves = list(db[MOVES].find({}, {"from": 1, "to": 1}))
    if len(moves) > PENDING_WARN:
        log.warning("%d pressure moves wait for the applier (is the scheduling worker running?)", len(moves))
    return moves


def read(db: Database, hospital_ids: Iterable[str], bands: Iterable[str]) -> dict[str, dict[str, dict]]:
    """hospital → band → bucket → families: the counts (by ``_id``) plus the journal's pending moves."""
    ids = [doc_id(h, b) for h in hospital_ids for b in bands]
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    for doc in db[COUNTS].find({"_id": {"$in": ids}}):  # counts first: racing the applier undercounts
        totals[doc["_id"]].update({b: int(n) for b, n in (doc.get("buckets") or {}).items()})
    for counts_id, delta in _deltas(_pending(db)).items():
        if counts_id in ids:
            totals[counts_id].update(delta)
    found: dict[str, dict[str, dict]] = defaultdict(dict)
    for counts_id, buckets in totals.items():
        hospital_id, band = counts_id.rsplit("|", 1)
        found[hospital_id][band] = {parse_bucket(b): n for b, n in buckets.items() if n > 0}
    return found


def _inc(db: Database, counts_id: str, inc: dict[str, int], unset: Iterable[str] = ()) -> None:
    update: dict[str, Any] = {}
    if any(inc.values()):
        update["$inc"] = {f"buckets.{b}": n for b, n in inc.items() if n}
    if unset:
        update["$unset"] = {f"buckets.{b}": "" for b in unset}
    if not update:
        return
    try:
        db[COUNTS].update_one({"_id": counts_id}, update, upsert=True)
    except DuplicateKeyError:  # FerretDB: a concurrent first upsert of this id (only around a handover)
        db[COUNTS].update_one({"_id": counts_id}, update, upsert=True)


def apply(db: Database, batch: int = APPLY_BATCH) -> int:
    """Fold up to ``batch`` journal moves into the counts; the single writer's step. Returns moves folded."""
    moves = list(db[MOVES].find({}, {"from": 1, "to": 1}).sort("_id", 1).limit(batch))
    if not moves:
        return 0
    # Delete first: a reader between the two steps undercounts for an instant, never double counts.
    db[MOVES].delete_many({"_id": {"$in": [m["_id"] for m in moves]}})
    for counts_id, delta in sorted(_deltas(moves).items()):
        _inc(db, counts_id, dict(delta))
    return len(moves)


def exact(db: Database) -> dict[str, Counter[str]]:
    """The counts recomputed from the list: one aggregation, ``$match`` + ``$group``/``$sum``."""
    pipeline: list[dict[str, Any]] = [
        {"$match": {"state": {"$in": list(QUEUED)}}},
        {"$group": {"_id": "$pressure_key", "n": {"$sum": 1}}},
    ]
    found: dict[str, Counter[str]] = defaultdict(Counter)
    for row in db.waitlist.aggregate(pipeline):
        if row["_id"]:
            counts_id, bucket = _split(row["_id"])
            found[counts_id][bucket] += int(row["n"])
    return found


def repair(db: Database) -> int:
    """Make counts + pending moves equal the list; returns how many buckets were off (0 when in step).

    Only the single writer may run this (it writes the counts).
    """
    want = exact(db)
    for counts_id, delta in _deltas(_pending(db)).items():
        want[counts_id].subtract(delta)  # the applier will still add these
    stored = {doc["_id"]: doc.get("buckets") or {} for doc in db[COUNTS].find({})}
    off = 0
    for counts_id in sorted(set(want) | set(stored)):
        have, target = stored.get(counts_id, {}), want.get(counts_id, Counter())
        names = set(target) | set(have)
        diff = {b: target[b] - int(have.get(b, 0)) for b in names if target[b] != int(have.get(b, 0))}
        empty = [b for b in have if not target[b] and b not in diff]  # emptied buckets, piling up over years
        off += len(diff)
        _inc(db, counts_id, diff, empty)
    if off:
        log.warning("pressure counts were off in %d buckets; repaired", off)
    return off
