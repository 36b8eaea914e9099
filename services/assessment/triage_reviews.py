"""Cases awaiting a clinician's review (``needs_review``): the list the workspace shows.

A case is flagged when triage could not settle it alone (codes the rule table does not know,
a risk flag withdrawn by an amendment); clearing the flag is the clinicians' work. The list
is read in keyset pages (oldest referral first, then case id) from one compound index whose
equality fields come first, so a real MongoDB serves it without scanning the cases.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database

from services.assessment.repository import ACTIVE, CASES, QUEUE_FIELDS
from shared.store import Index

INDEXES = {
    CASES: [
        Index(
            [
                ("needs_review", ASCENDING),
                ("status", ASCENDING),
                ("referred_on", ASCENDING),
                ("_id", ASCENDING),
            ],
            name="needs_review_queue",
        ),
        # The same list for a hospital-scoped clinician: the multikey hospital_ids after the
        # equality fields (services/assessment/scope.py).
        Index(
            [
                *(("needs_review", ASCENDING), ("status", ASCENDING), ("hospital_ids", ASCENDING)),
                *(("referred_on", ASCENDING), ("_id", ASCENDING)),
            ],
            name="needs_review_by_hospital",
        ),
    ],
}
MAX_PAGE = 100

Key = tuple[str, str]
"""Where a page ends: (referred_on, case id)."""


@dataclass
class TriageReviewQueue:
    db: Database

    def page(
        self, limit: int, after: Key | None = None, within: Mapping[str, Any] | None = None
    ) -> tuple[list[dict[str, Any]], Key | None]:
        """Up to ``limit`` (at most 100) active cases needing review after ``after``; and the next page's key.

        ``within``: a hospital-scoped clinician's filter (scope.list_filter)."""
        limit = max(1, min(limit, MAX_PAGE))
        selector: dict[str, Any] = {"needs_review": True, "status": ACTIVE, **(within or {})}
        if after is not None:
            referred_on, case_id = after
            selector["$or"] = [
                {"referred_on": {"$gt": referred_on}},
                {"referred_on": referred_on, "_id": {"$gt": case_id}},
            ]
        order = [("referred_on", ASCENDING), ("_id", ASCENDING)]
        found = list(self.db[CASES].find(selector, QUEUE_FIELDS).sort(order).limit(limit + 1))
        page = found[:limit]
        more = len(found) > limit
        return page, ((page[-1]["referred_on"], page[-1]["_id"]) if more else None)
