"""Every effective rule table the service has run with, stored under its version (HZ-06b).

A triage stores ``rule_version``; the version names the table *and* the configuration
that shaped it (:func:`services.assessment.catalogue.effective_rules`). Keeping each
version's table lets anyone reproduce a stored triage years later, after the
configuration moved on. One insert per version at start: a restart with the same
configuration finds it taken (an insert on the unique ``_id`` is atomic on every store).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

RULE_TABLES = "rule_tables"


def remember(db: Database, table: Mapping[str, Any]) -> None:
    """Stored as JSON text: the table has nested arrays (factor steps), which FerretDB 1.x refuses."""
    text = json.dumps(table, sort_keys=True, ensure_ascii=False)
    with contextlib.suppress(DuplicateKeyError):
        db[RULE_TABLES].insert_one({"_id": table["version"], "json": text})


def find(db: Database, version: str) -> dict[str, Any] | None:
    found = db[RULE_TABLES].find_one({"_id": version})
    return None if found is None else {"version": version, "table": json.loads(found["json"])}
