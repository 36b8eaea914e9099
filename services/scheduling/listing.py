"""Keyset pages over the waitlist: every query a small equality match, whatever the list's length.

A page is read in *lanes*: one lane per state and band (any band = P1, P2, P3 and none;
``all`` states = each state). Each lane is a walk over its equality buckets in the sort's
order (services/scheduling/walks.py): the store only ever matches one bucket (a handful of
families) and sorts and limits that. A caller scoped to hospitals adds the hospital filter to
each bucket read (one hospital: an equality; several: ``$in`` on the bucket's rows). Lanes
are merged in key order here; at most ``limit + 1`` entries are read past the buckets
skipped by the cursor, so a page costs O(lanes x (days + buckets read)), never O(list).

The cursor is the last returned entry's sort key (unique: it ends with the case id),
base64url-encoded with its sort's name. Entries added after it in the order appear on
later pages; entries added before it do not; none is returned twice.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
from collections.abc import Sequence
from typing import Any

from pymongo.database import Database

from services.scheduling import walks


class BadCursor(ValueError):
    """The cursor was not made by this service for this sort."""


def encode(sort: str, key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([sort, key]).encode()).decode().rstrip("=")


def decode(sort: str, token: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        made_for, key = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise BadCursor("Not a cursor from this list.") from None
    if made_for != sort or not isinstance(key, str):
        raise BadCursor(f"This cursor pages sort={made_for!s}, not sort={sort}.")
    return key


def lanes(
    states: Sequence[str], bands: Sequence[str | None], hospitals: Sequence[str] | None
) -> list[dict[str, Any]]:
    """The filter of every lane; ``hospitals`` None means region-wide (no hospital filter)."""
    if hospitals is not None and not hospitals:
        return []
    scope: dict[str, Any] = {}
    if hospitals is not None:
        scope["eligible_hospitals"] = hospitals[0] if len(hospitals) == 1 else {"$in": list(hospitals)}
    return [{"state": state, "band": band, **scope} for state in states for band in bands]


def page(
    db: Database, sort: str, filters: Sequence[dict[str, Any]], after: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to ``limit`` entries after ``after`` in ``sort`` order, and the key to continue from (None at the end)."""
    if not filters:
        return [], None
    memo: dict[str, list[str]] = {}
    walkers = []
    for lane in filters:
        extra = {k: v for k, v in lane.items() if k not in ("state", "band")}
        walkers.append(walks.walk(db, sort, lane["state"], lane["band"], extra, after=after, memo=memo))
    items: list[dict[str, Any]] = []
    last = None
    for doc in heapq.merge(*walkers, key=lambda d: d["sort_keys"][sort]):
        key = doc["sort_keys"][sort]
        if key == last:
            continue  # the same family twice (never expected: one lane per state and band)
        if len(items) == limit:
            return items, last
        items.append(doc)
        last = key
    return items, None
