"""Keyset pages over the waitlist: every query an index range, whatever the list's length.

A page is read in *lanes*: one lane per combination of the equality filters (state,
band, and hospital when the caller is scoped), each lane a range ``sort_keys.<sort> >
<cursor>`` on an index whose keys are exactly those equalities followed by the sort key
(``repository.INDEXES``), sorted and limited by the store. Lanes are merged in key order
here; at most ``limit + 1`` entries per lane are ever read, so a page costs
O(lanes x limit), never O(list). Omitted filters become lanes (any band = P1, P2, P3
and none; ``all`` states = each state), which keeps every query an equality prefix
rather than relying on the store to merge ``$in`` branches for a sort.

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

MIN_BATCH = 16


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
    """The equality filter of every lane; ``hospitals`` None means region-wide (no hospital filter)."""
    found = []
    for state in states:
        for band in bands:
            if hospitals is None:
                found.append({"state": state, "band": band})
            else:
                found += [{"state": state, "eligible_hospitals": h, "band": band} for h in hospitals]
    return found


def page(
    db: Database, sort: str, filters: Sequence[dict[str, Any]], after: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to ``limit`` entries after ``after`` in ``sort`` order, and the key to continue from (None at the end)."""
    if not filters:
        return [], None
    field = f"sort_keys.{sort}"
    batch = max(MIN_BATCH, -(-(limit + 1) // len(filters)))
    cursors = [
        db.waitlist.find({**lane, field: {"$gt": after or ""}})
        .sort(field, 1)
        .limit(limit + 1)
        .batch_size(batch)
        for lane in filters
    ]
    items: list[dict[str, Any]] = []
    last = None
    for doc in heapq.merge(*cursors, key=lambda d: d["sort_keys"][sort]):
        key = doc["sort_keys"][sort]
        if key == last:
            continue  # one family reached through two of the caller's hospitals
        if len(items) == limit:
            return items, last
        items.append(doc)
        last = key
    return items, None
