"""MongoDB access: one client per process, the embedded store, and indexes created at start-up.

Everything here stays inside what both MongoDB and FerretDB 1.x run: no transactions,
change streams, TTL indexes, $lookup or $facet (docs/runbooks/local-infra.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import mongomock
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure

from shared.settings import Settings


@dataclass(frozen=True)
class Index:
    keys: Sequence[tuple[str, int]]
    unique: bool = False
    name: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


STORE_CALL_TIMEOUT_MS = 30_000


def connect(settings: Settings) -> Database:
    """The service's own database: FerretDB/MongoDB in kafka mode, an in-memory store when embedded."""
    if settings.embedded:
        return embedded_client()[settings.database]
    client: MongoClient = MongoClient(
        settings.mongo_uri,
        serverSelectionTimeoutMS=5_000,
        connectTimeoutMS=3_000,
        # No store call may hang for ever: a worker's lane stuck in one would hold its whole
        # batch. A timed-out call is an outage (retried with backoff), like a refused one.
        socketTimeoutMS=STORE_CALL_TIMEOUT_MS,
        appname=f"waymark-{settings.service}",
        tz_aware=True,
    )
    return client[settings.database]


_EMBEDDED: mongomock.MongoClient | None = None


def embedded_client() -> mongomock.MongoClient:
    """One in-memory server per process, shared by the services composed in it (each keeps its own db)."""
    global _EMBEDDED
    if _EMBEDDED is None:
        _EMBEDDED = mongomock.MongoClient(tz_aware=True)
    return _EMBEDDED


def ensure_indexes(db: Database, spec: Mapping[str, Sequence[Index]]) -> None:
    """Create the indexes a service relies on for correctness (unique keys) and speed; idempotent."""
    for collection, indexes in spec.items():
        for index in indexes:
            kwargs = dict(index.options)
            if index.name:
                kwargs["name"] = index.name
            db[collection].create_index(list(index.keys), unique=index.unique, **kwargs)


def upsert(collection: Collection, doc_id: Any, update: Mapping[str, Any]) -> None:
    """``update_one({"_id": doc_id}, update, upsert=True)`` that survives the first-time race:
    processes starting together upsert a new ``_id`` at once, and FerretDB answers all but one
    with DuplicateKeyError; the document exists by then, so the update is made on it.
    For markers and single-writer documents only (the update itself is not a race decision)."""
    try:
        collection.update_one({"_id": doc_id}, dict(update), upsert=True)
    except DuplicateKeyError:
        collection.update_one({"_id": doc_id}, dict(update))


def ping(db: Database) -> None:
    db.command("ping")


# What FerretDB answers when *its* storage (PostgreSQL) is down or restarting: the wire
# connection is fine, so pymongo raises OperationFailure (code 1), not ConnectionFailure.
_BACKEND_DOWN = (
    "failed to connect to",
    "dial error",
    "connection refused",
    "the database system is starting up",
    "the database system is shutting down",
    "terminating connection",
    "conn closed",
    "unexpected eof",
    "server closed the connection",
)


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the store is unreachable (retry until it is back), not that a request is wrong.

    A lost connection to MongoDB or FerretDB is ConnectionFailure. A lost connection between
    FerretDB and its PostgreSQL is OperationFailure code 1 with the driver's message; code 1
    is also what a unique violation from an update gives, so the message decides. Treating the
    second kind as a handler failure dead-lettered referral's timeline events during a
    PostgreSQL restart and then stopped the consumer at the dead-letter cap (issue 11, item 9).
    """
    if isinstance(exc, ConnectionFailure):
        return True
    if isinstance(exc, OperationFailure) and exc.code in (None, 1):
        message = str(exc).lower()
        return any(marker in message for marker in _BACKEND_DOWN)
    return False
