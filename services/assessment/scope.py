"""Which hospitals a case belongs to, and whether a clinician's scope covers it.

A clinician scoped to hospitals (a staff account or token naming them) sees and acts only
on the cases and tasks of the hospitals they cover; a regional clinician (``*``) sees all.
A case's hospitals are the one holding it (its booking's, HZ-02) and the family's preferred
hospitals; a redirected or reviewed referral adds its reviewing hospital. A task belongs to
the hospital it was made for (its ``hospital_id``: the holding or reviewing hospital).

Single reads check the case document itself (:func:`case_hospitals`), so a case stored
before the ``hospital_ids`` field existed is still checked right. Lists filter on the
stored top-level ``hospital_ids`` (multikey, in the lists' compound indexes) that
:class:`services.assessment.repository.CaseRepository` keeps in step with every change and
:func:`backfill` adds at start to documents from before. An out-of-scope case or task
answers as if it did not exist (404), so its existence is not revealed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pymongo.database import Database

from shared import store
from shared.auth import Principal

log = logging.getLogger(__name__)
FIELD = "hospital_ids"
CASE_FIELDS = dict.fromkeys(["booked_hospital", "referral", "review"], 1)
"""What :func:`case_hospitals` reads (whole sub-documents: FerretDB 1.x and dotted projections)."""
BACKFILL_BATCH = 500
BACKFILLED = "cases_hospital_ids_backfilled"
"""Marker in ``meta``: once set, starts skip the backfill (its query has no index, and its plain
updates could overwrite a concurrent fold: ADR 0003, a one-time upgrade pass only)."""


def case_hospitals(doc: Mapping[str, Any]) -> list[str]:
    """The hospitals a case belongs to: the booking's, the preferred ones, the reviewing one (no duplicates)."""
    preferred = ((doc.get("referral") or {}).get("preferences") or {}).get("hospitals") or []
    reviewing = (doc.get("review") or {}).get("hospital_id")
    found = [doc.get("booked_hospital"), *preferred, reviewing]
    return list(dict.fromkeys(h for h in found if h))


def covers(principal: Principal, hospitals: list[str] | tuple[str, ...]) -> bool:
    """A regional clinician covers every case; others a case of at least one of their hospitals."""
    return principal.regional or any(h in principal.hospitals for h in hospitals)


def covers_task(principal: Principal, task: Mapping[str, Any]) -> bool:
    """A task belongs to its one hospital (None: the roster's default, regional clinicians only)."""
    hospital = task.get("hospital_id")
    return principal.regional or (hospital is not None and hospital in principal.hospitals)


def _one_of(field: str, principal: Principal) -> dict[str, Any]:
    """Equality for the usual one hospital (FerretDB 1.x pushes only top-level equality down to
    its index, and matches it against an array's elements); ``$in`` for a token naming several
    (still served by the leading equality fields; a real MongoDB merges one index range each)."""
    if principal.regional:
        return {}
    hospitals = sorted(set(principal.hospitals))
    return {field: hospitals[0] if len(hospitals) == 1 else {"$in": hospitals}}


def list_filter(principal: Principal) -> dict[str, Any]:
    """The filter a case list adds for a hospital-scoped clinician (none for a regional one)."""
    return _one_of(FIELD, principal)


def task_filter(principal: Principal) -> dict[str, Any]:
    """The filter a task list (or task lookup) adds for a hospital-scoped clinician."""
    return _one_of("hospital_id", principal)


def backfill(db: Database, collection: str = "cases") -> int:
    """Give every case stored before ``hospital_ids`` existed its field; returns how many.

    Runs at start, in bounded batches (the field is added, so each batch finds new ones;
    a case with no hospital gets an empty list and is not found again).
    """
    if db["meta"].find_one({"_id": BACKFILLED}) is not None:
        return 0
    cases = db[collection]
    done = 0
    while True:
        batch = list(cases.find({FIELD: {"$exists": False}}, {"_id": 1, **CASE_FIELDS}).limit(BACKFILL_BATCH))
        if not batch:
            break
        changed = 0
        for doc in batch:
            query = {"_id": doc["_id"], FIELD: {"$exists": False}}
            changed += cases.update_one(query, {"$set": {FIELD: case_hospitals(doc)}}).modified_count
        done += changed
        if not changed:
            break  # nothing would change: never loop on a batch the store will not update
    store.upsert(db["meta"], BACKFILLED, {"$set": {"cases": done}})
    if done:
        log.info("hospital_ids backfilled", extra={"cases": done})
    return done
