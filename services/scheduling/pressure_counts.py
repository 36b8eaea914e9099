"""Running counts of queued families per (home hospital, band, bucket), so pressure never reads the list.

Collection ``pressure_counts``: one document per hospital and band, ``_id`` =
``<hospital>|<band>``, ``buckets`` = {``<u|n>:<referred_on>:<target_date>``: families}.
Every write that changes an entry's ``pressure_key`` (services/scheduling/entries.py,
in the same update as the change itself) then moves one family from the old bucket to
the new one with ``$inc``. Reading pressure is one ``_id`` lookup per hospital and band.

Writers are many (the consumer thread, the API's workers, the duties), and we chose
that over a single writer so that a read right after a write sees it. The price is
drift, in three known ways, all repaired by :func:`repair`:

* FerretDB 1.x applies ``$inc`` as read-modify-write, so two concurrent moves on one
  (hospital, band) document can lose one of them (a count off by one per lost race);
* a crash between the entry's write and the ``$inc`` leaves the family uncounted (or
  counted twice when it left the queue);
* :func:`repair` itself reads the list and then the counts, so a move landing between
  the two reads can be corrected wrongly; the next repair puts it right.

:func:`repair` recomputes the exact counts with one aggregation (``$match`` on the queued
states, ``$group`` by ``pressure_key`` with ``$sum``, the operators FerretDB has) and
applies the difference with ``$inc``. The duty runs it every ``SCHEDULING_PRESSURE_REPAIR_S``
(default 600 s) under a claim per interval, so one process repairs at a time; between
repairs the counts can be off by the races above, and pressure levels with them.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.scheduling.domain.model import QUEUED
from services.scheduling.domain.pressure import Bucket

log = logging.getLogger(__name__)

COLLECTION = "pressure_counts"


def bucket_name(bucket: tuple[bool, str, str]) -> str:
    urgent, referred, target = bucket
    return f"{'u' if urgent else 'n'}:{referred}:{target}"


def key(home: str, band: str, bucket: tuple[bool, str, str]) -> str:
    return f"{home}|{band}|{bucket_name(bucket)}"


def doc_id(hospital_id: str, band: str) -> str:
    return f"{hospital_id}|{band}"


def _split(pressure_key: str) -> tuple[str, str]:
    """(document id, bucket field) of a ``pressure_key``."""
    home, band, bucket = pressure_key.rsplit("|", 2)
    return doc_id(home, band), bucket


def parse_bucket(name: str) -> Bucket:
    urgent, referred, target = name.split(":")
    return (urgent == "u", date.fromisoformat(referred), date.fromisoformat(target))


def _inc(db: Database, counts_id: str, inc: dict[str, int]) -> None:
    """``$inc`` with upsert; FerretDB can answer two first upserts of one id with a duplicate key."""
    update = {"$inc": {f"buckets.{name}": n for name, n in inc.items() if n}}
    if not update["$inc"]:
        return
    try:
        db[COLLECTION].update_one({"_id": counts_id}, update, upsert=True)
    except DuplicateKeyError:  # the other upsert created it: now it is a plain update
        db[COLLECTION].update_one({"_id": counts_id}, update, upsert=True)


def move(db: Database, old: str | None, new: str | None) -> None:
    """One family leaves bucket ``old`` and joins bucket ``new`` (either may be None)."""
    if old == new:
        return
    changes: dict[str, Counter[str]] = defaultdict(Counter)
    if old:
        counts_id, bucket = _split(old)
        changes[counts_id][bucket] -= 1
    if new:
        counts_id, bucket = _split(new)
        changes[counts_id][bucket] += 1
    for counts_id, inc in changes.items():
        _inc(db, counts_id, dict(inc))


def read(db: Database, hospital_ids: Iterable[str], bands: Iterable[str]) -> dict[str, dict[str, dict]]:
    """The counts of these hospitals: hospital → band → bucket → families (one ``_id`` lookup)."""
    ids = [doc_id(h, b) for h in hospital_ids for b in bands]
    counts: dict[str, dict[str, dict]] = defaultdict(dict)
    for doc in db[COLLECTION].find({"_id": {"$in": ids}}):
        hospital_id, band = doc["_id"].rsplit("|", 1)
        counts[hospital_id][band] = {
            parse_bucket(name): int(n) for name, n in (doc.get("buckets") or {}).items() if n > 0
        }
    return counts


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
    """Make the running counts equal the list's; returns how many buckets were off (0 when in step)."""
    want = exact(db)
    off = 0
    stored = {doc["_id"]: doc.get("buckets") or {} for doc in db[COLLECTION].find({})}
    for counts_id in sorted(set(want) | set(stored)):
        have = stored.get(counts_id, {})
        diff = {b: want[counts_id][b] - int(have.get(b, 0)) for b in set(want[counts_id]) | set(have)}
        diff = {b: n for b, n in diff.items() if n}
        empty = [b for b, n in have.items() if n == 0 and not want[counts_id][b]]
        if diff:
            off += len(diff)
            _inc(db, counts_id, diff)
        if empty:  # buckets emptied by moves; harmless, but they would pile up over the years
            db[COLLECTION].update_one({"_id": counts_id}, {"$unset": {f"buckets.{b}": "" for b in empty}})
    if off:
        log.warning("pressure counts were off in %d buckets; repaired", off)
    return off
