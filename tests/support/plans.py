"""Whether the store answers a query from an index: the check behind "every hot query is indexed".

The store's ``explain`` command is the only witness. FerretDB on PostgreSQL returns PostgreSQL's own
plan (``EXPLAIN (FORMAT JSON)`` of the SQL it runs) under ``queryPlanner.Plan``; a real MongoDB
returns ``queryPlanner.winningPlan``. FerretDB on SQLite returns SQLite's plan rows, and those say
SCAN for every query (its pushed-down filters never match its indexes), so there is nothing to
check there: ``uses_index`` raises ``PlansUnavailable`` and ``assert_index_used`` skips.

What "uses an index" covers on FerretDB 1.24 (docs/adr/0004-store-ferretdb-on-postgresql.md):
only the part of the filter FerretDB pushes down to PostgreSQL — top-level equality on a string,
number, bool, date or ObjectId. ``$in``, ranges, dotted paths, sorts and limits are applied in
FerretDB to every row the pushed-down part returns, so an indexed filter is only cheap when it is
selective. Seed a few hundred documents before asking: on a near-empty table the planner may
rightly prefer a scan.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from pymongo.database import Database

# PostgreSQL plan nodes that read through an index, and the one that reads the whole table.
_PG_INDEX_NODES = {"Index Scan", "Index Only Scan", "Bitmap Index Scan"}
_PG_FULL_SCAN = "Seq Scan"
# MongoDB stages.
_MONGO_INDEX_STAGES = {"IXSCAN", "IDHACK", "EXPRESS_IXSCAN", "EXPRESS_IDHACK", "COUNT_SCAN", "DISTINCT_SCAN"}
_MONGO_FULL_SCAN = "COLLSCAN"


class PlansUnavailable(Exception):
    """The store's explain output cannot tell index use from a scan (FerretDB on SQLite)."""


def explain_find(db: Database, collection: str, filter: Mapping[str, Any]) -> dict[str, Any]:
    """The store's reply to ``explain`` of ``find(filter)``: what a pymongo find would run."""
    return db.command("explain", {"find": collection, "filter": dict(filter)}, verbosity="queryPlanner")


def uses_index(db: Database, collection: str, filter: Mapping[str, Any]) -> tuple[bool, str]:
    """(True if the store reads the collection through an index and never scans it, the plan as text)."""
    reply = explain_find(db, collection, filter)
    planner = reply.get("queryPlanner") or {}
    header = (
        f"find {collection} {filter!r}: filterPushdown={reply.get('filterPushdown')}"
        if "filterPushdown" in reply
        else f"find {collection} {filter!r}"
    )
    plan = planner.get("Plan")
    if isinstance(plan, Mapping):  # FerretDB on PostgreSQL
        nodes = list(_pg_nodes(plan))
        text = "\n".join([header, *(line for _, line in nodes)])
        types = {node_type for node_type, _ in nodes}
        return bool(types & _PG_INDEX_NODES) and _PG_FULL_SCAN not in types, text
    if isinstance(plan, list):  # FerretDB on SQLite: rows of EXPLAIN QUERY PLAN
        raise PlansUnavailable(
            "FerretDB on SQLite reports SCAN for every query (its pushed-down filters never match its "
            "indexes), so index use cannot be checked; run the store with FERRETDB_BACKEND=postgresql. "
            f"Plan: {plan}"
        )
    if "winningPlan" in planner:  # MongoDB
        stages = list(_mongo_stages(planner["winningPlan"]))
        text = "\n".join([header, json.dumps(planner["winningPlan"], default=str, indent=1)])
        return bool(set(stages) & _MONGO_INDEX_STAGES) and _MONGO_FULL_SCAN not in stages, text
    raise PlansUnavailable(f"no plan in the explain reply (does {collection!r} exist?): {reply!r}")


def assert_index_used(db: Database, collection: str, filter: Mapping[str, Any]) -> None:
    """Fail with the plan when the query scans; skip (saying why) where the store reports no usable plans."""
    try:
        used, plan = uses_index(db, collection, filter)
    except PlansUnavailable as exc:
        pytest.skip(str(exc))
    assert used, f"not served by an index:\n{plan}"


def _pg_nodes(node: Mapping[str, Any], depth: int = 0) -> Iterator[tuple[str, str]]:
    """(node type, one line of text) for a PostgreSQL plan tree, depth first."""
    node_type = node.get("Node Type", "?")
    parts = [node_type]
    if "Index Name" in node:
        parts.append(f"using {node['Index Name']}")
    if "Relation Name" in node:
        parts.append(f"on {node.get('Schema', '')}.{node['Relation Name']}")
    for key in ("Index Cond", "Recheck Cond", "Filter"):
        if key in node:
            parts.append(f"{key}: {node[key]}")
    yield node_type, "  " * depth + " ".join(parts)
    for child in node.get("Plans", []):
        yield from _pg_nodes(child, depth + 1)


def _mongo_stages(node: Any) -> Iterator[str]:
    """Every stage name in a MongoDB winningPlan (classic or SBE shape)."""
    if isinstance(node, Mapping):
        if "stage" in node:
            yield node["stage"]
        for value in node.values():
            yield from _mongo_stages(value)
    elif isinstance(node, list):
        for item in node:
            yield from _mongo_stages(item)
