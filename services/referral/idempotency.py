"""Idempotency-Key: a retried POST answers what the first one answered, never acts twice.

The key's trace is the case it opened, and the decision is the case's own insert: the case
id is derived from the school and the key (:func:`case_id_for`) and the case carries the
hash of the request body (``request_hash``). So a keyed POST costs no store round trip more
than an unkeyed one (a separate record was one insert more on every keyed POST), and the
insert on the unique ``_id`` is the duplicate check (no read first): two concurrent
requests with one key cannot both open a case. A request whose insert clashes reads the
case at the derived id and answers from it (services.referral.cases, ``Referrals.submit``):

- another child under this key → 409 (the key was reused for another referral);
- another body → 409 (a client bug);
- otherwise a replay of the first answer (``Idempotent-Replayed: true``).

A request linked to its school's own open case for the child (answered ``duplicate: true``
with that case's id) leaves its trace the same way: a *link record* at the derived id, a
case document that holds no child, belongs to no school's list and answers the duplicate
(``answer``). A crash between writes leaves at most a written case whose link is missing,
and the retry completes the link; nothing is ever half-acted-on or acted on twice.

Keys are therefore remembered as long as their case, not for a window. Records of the
former ``idempotency`` collection (before this protocol) are still pruned by the worker
after REFERRAL_IDEMPOTENCY_HOURS (shared.housekeeping, :func:`retention`); nothing writes
new ones.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from shared.housekeeping import Retention

HEADER = "Idempotency-Key"
COLLECTION = "idempotency"
STAMP = "created_at"


class IdempotencyConflict(Exception):
    """The key was already used with another request body."""


def body_hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def case_id_for(school_id: str, key: str) -> str:
    return "c-" + hashlib.sha256(f"{school_id}\x00{key}".encode()).hexdigest()[:20]


def retention(window: timedelta) -> Retention:
    """What the worker prunes: records of the former protocol older than the window."""
    return Retention(COLLECTION, STAMP, window)
