"""Ordered walks over the waitlist in which every query is a small top-level equality match.

Why: FerretDB 1.x pushes down to PostgreSQL only top-level equality (ADR 0004). A sorted,
limited range such as ``{state, band, sort_keys.priority > c}`` makes it fetch every row the
equality matches (all waiting P3 families) and sort them in Go, so a page cost grew with the
list. Here each list order's key (``sort_keys.<sort>``, services/scheduling/entries.py) is cut
at two fixed widths, which preserves its order:

* ``l1`` = the key's first ``W1`` characters (urgent, band and day; or day and band);
* ``l2`` = its first ``W2`` characters (``l1`` plus the score, or the case id's first
  characters): a *bucket* of a handful of families, whatever the list's length, as long as
  families spread over days and scores (at 100k waiting over 4 months, about 6 per bucket).

An entry stores, per order, its bucket id in a top-level field (``walk_<sort>`` =
``<lane>|<l2>``, a lane being (sort, state class, band)), so a bucket is one equality read. A
directory (collection ``waitlist_walk``, insert-only documents with unique ids) lists, per
lane, the ``l1`` values in use and, per ``l1``, the ``l2`` values in use; both are equality
reads on ``up``. A walk reads a lane's ``l1`` list, then for each ``l1`` after the cursor its
``l2`` list, then each bucket in order, each sorted and limited by the store; buckets before
the cursor are skipped by their prefix. A page therefore costs O(lanes x (days + buckets
read)), independent of the number of families.

State class: waiting and offered share one (``queued``), so the offer writes that move a
family between them (plain ``update_one`` calls) never change its buckets; every other state is
its own class, and all writes that change it go through entries.py, which writes the fields.

Correctness on FerretDB: the directory documents for an entry's buckets are inserted *before*
the entry is written (inserts of unique ids are atomic; duplicates are ignored), so an entry is
never in a bucket the directory does not list, even across a crash. Directory documents of
emptied buckets stay (an empty bucket costs one empty read); ``repair`` (the counts' writer,
every ``PRESSURE_REPAIR_S``) re-lists buckets of entries written around the directory (bulk
loads, the backfill) and deletes directory documents of buckets nobody is in.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import BulkWriteError

from services.scheduling.domain.model import QUEUED

log = logging.getLogger(__name__)

DIRECTORY = "waitlist_walk"
WIDTHS: dict[str, tuple[int, int]] = {
    # "u|r|YYYY-MM-DD|<score, 16 hex>|case": l1 up to the referral day, l2 up to the score.
    "priority": (14, 31),
    # "YYYY-MM-DD|r|case": l1 the target day and band, l2 plus "c-" and the case id's first hex digit.
    "breach_date": (12, 16),
    # "YYYY-MM-DD|case": l1 the referral day, l2 plus the case id's first three characters.
    "referred_on": (10, 14),
}
BATCH = 50
"""Entries read per bucket query; a bucket holding more is continued by keyset."""
LIST_CAP = 20_000
"""A limit on directory reads (days x scores of one lane): far above any real list."""
DUPLICATE = 11000


def field(sort: str) -> str:
    return f"walk_{sort}"


FIELDS = tuple(field(s) for s in WIDTHS)


def state_class(state: str | None) -> str:
    return "queued" if state in QUEUED else str(state)


def lane(sort: str, state: str | None, band: str | None) -> str:
    return f"{sort}|{state_class(state)}|{band or '-'}"


def tokens(doc: Mapping[str, Any], keys: Mapping[str, str]) -> dict[str, str]:
    """The entry's bucket per order (``walk_<sort>``), from its state, band and sort keys."""
    return {
        field(sort): f"{lane(sort, doc.get('state'), doc.get('band'))}|{keys[sort][:w2]}"
        for sort, (_, w2) in WIDTHS.items()
    }


def _directory_docs(token: str, sort: str, now: datetime) -> list[dict[str, Any]]:
    """The two directory documents that make ``token`` reachable: its l1 in the lane, its l2 in the l1."""
    w1, _ = WIDTHS[sort]
    lane_id, l2 = _split(token)
    l1_id = f"{lane_id}|{l2[:w1]}"
    return [
        {"_id": l1_id, "up": lane_id, "key": l2[:w1], "at": now},
        {"_id": token, "up": l1_id, "key": l2, "at": now},
    ]


def _split(token: str) -> tuple[str, str]:
    """(lane id, l2) of a bucket id: the lane is its first three |-separated parts."""
    sort, klass, band, l2 = token.split("|", 3)
    return f"{sort}|{klass}|{band}", l2


def ensure(db: Database, new: Mapping[str, str], old: Mapping[str, Any] | None, now: datetime) -> None:
    """List the buckets in ``new`` that ``old`` was not already in; call before writing the entry."""
    docs = []
    for sort in WIDTHS:
        token = new[field(sort)]
        if old is None or old.get(field(sort)) != token:
            docs += _directory_docs(token, sort, now)
    if docs:
        _insert_ignoring_duplicates(db, docs)


def _insert_ignoring_duplicates(db: Database, docs: list[dict[str, Any]]) -> None:
    try:
        db[DIRECTORY].insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        others = [e for e in exc.details.get("writeErrors", []) if e.get("code") != DUPLICATE]
        if others:
            raise


def walk(
    db: Database,
    sort: str,
    state: str,
    band: str | None,
    extra: Mapping[str, Any] | None = None,
    after: str | None = None,
    before: str | None = None,
    memo: dict[str, list[str]] | None = None,
) -> Iterator[dict[str, Any]]:
    """Entries of one lane (``state``, ``band``) matching ``extra``, in ``sort`` order, ``after`` < key < ``before``.

    ``memo`` shares directory reads between walks of one request (several hospitals' lanes).
    """
    w1, w2 = WIDTHS[sort]
    lane_id = lane(sort, state, band)
    key_field = f"sort_keys.{sort}"
    memo = {} if memo is None else memo
    for l1 in _listed(db, lane_id, memo):
        if after is not None and l1 < after[:w1]:
            continue
        if before is not None and l1 >= before:
            return
        for l2 in _listed(db, f"{lane_id}|{l1}", memo):
            if after is not None and l2 < after[:w2]:
                continue
            if before is not None and l2 >= before:
                return
            query: dict[str, Any] = {field(sort): f"{lane_id}|{l2}", "state": state, **(extra or {})}
            last = after if after is not None and l2 == after[:w2] else None
            while True:
                if last is not None:
                    query[key_field] = {"$gt": last}
                found = list(db.waitlist.find(query).sort(key_field, 1).limit(BATCH))
                for doc in found:
                    if before is not None and doc["sort_keys"][sort] >= before:
                        return
                    yield doc
                if len(found) < BATCH:
                    break
                last = found[-1]["sort_keys"][sort]


def _listed(db: Database, up: str, memo: dict[str, list[str]]) -> list[str]:
    if up not in memo:
        memo[up] = sorted(d["key"] for d in db[DIRECTORY].find({"up": up}, {"key": 1}).limit(LIST_CAP))
    return memo[up]


def repair(db: Database, now: datetime, prune: bool = True) -> dict[str, int]:
    """List every occupied bucket; with ``prune``, drop directory documents of empty ones.

    One pass over the entries' bucket fields (O(list), in the worker every ``PRESSURE_REPAIR_S``;
    FerretDB reads every row for any aggregation too). A bucket that looks empty is deleted and
    then re-read: an entry written into it meanwhile gets its documents back at once (the
    writer inserted them first, before its entry, so a delete can only race a writer that found
    them present; that writer's entry is seen by the re-read, or by the next repair).
    """
    used: dict[str, str] = {}
    projection = {"_id": 0, **dict.fromkeys(FIELDS, 1)}
    for doc in db.waitlist.find({}, projection).batch_size(2000):  # one pass (the store reads every row)
        for sort in WIDTHS:
            token = doc.get(field(sort))
            if isinstance(token, str):
                used[token] = sort
    listed = {d["_id"] for d in db[DIRECTORY].find({}, {"_id": 1})}
    docs = [
        d for token, sort in used.items() for d in _directory_docs(token, sort, now) if d["_id"] not in listed
    ]
    if docs:
        _insert_ignoring_duplicates(db, docs)
    pruned = 0
    if prune:
        needed = {d["_id"] for token, sort in used.items() for d in _directory_docs(token, sort, now)}
        unused = listed - needed
        buckets = {d for d in unused if _is_bucket(d)}
        for doc_id in [*sorted(buckets), *sorted(unused - buckets)]:  # buckets before their days
            pruned += _prune(db, doc_id, now)
    if docs:
        log.warning("waitlist walk directory was missing %d documents; repaired", len(docs))
    return {"listed": len(docs), "pruned": pruned}


def _is_bucket(doc_id: str) -> bool:
    parts = doc_id.split("|", 3)
    return len(parts) == 4 and parts[0] in WIDTHS and len(parts[3]) > WIDTHS[parts[0]][0]


def _prune(db: Database, doc_id: str, now: datetime) -> int:
    parts = doc_id.split("|", 3)
    if len(parts) != 4 or parts[0] not in WIDTHS:
        return 0
    sort, key = parts[0], parts[3]
    db[DIRECTORY].delete_one({"_id": doc_id})
    if _is_bucket(doc_id):  # a bucket: re-read it
        alive = db.waitlist.find_one({field(sort): doc_id}, {"_id": 1}) is not None
        restore = _directory_docs(doc_id, sort, now) if alive else []
    else:  # a day: re-read its bucket list
        alive = db[DIRECTORY].find_one({"up": doc_id}, {"_id": 1}) is not None
        lane_id = doc_id[: len(doc_id) - len(key) - 1]
        restore = [{"_id": doc_id, "up": lane_id, "key": key, "at": now}] if alive else []
    if restore:
        _insert_ignoring_duplicates(db, restore)
        return 0
    return 1


def backfill(db: Database, compute: Any, batch: int = 500) -> int:
    """Give entries without walk fields their fields (``compute(doc)`` returns the $set); one streaming pass.

    Entries it writes are listed in the directory by the ``repair`` that follows it.
    """
    done = 0
    missing = {FIELDS[0]: {"$exists": False}}
    for doc in db.waitlist.find(missing).batch_size(batch):
        db.waitlist.update_one({"_id": doc["_id"], FIELDS[0]: {"$exists": False}}, {"$set": compute(doc)})
        done += 1
    return done
