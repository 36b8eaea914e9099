"""Fixtures for tests against the real Kafka broker and FerretDB started by deploy/infra.sh."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from shared import kafka
from tests.conftest import KAFKA_BOOTSTRAP, MONGO_URI, missing


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    try:
        kafka.ping(KAFKA_BOOTSTRAP)
    except ConnectionError as exc:
        missing(f"no Kafka broker at {KAFKA_BOOTSTRAP} ({exc}); run deploy/infra.sh start")
    return KAFKA_BOOTSTRAP


@pytest.fixture(scope="session")
def mongo_client() -> Iterator[MongoClient]:
    client: MongoClient = MongoClient(MONGO_URI, serverSelectionTimeoutMS=3000, tz_aware=True)
    try:
        client.admin.command("ping")
    except Exception as exc:
        missing(f"no MongoDB-wire server at {MONGO_URI} ({type(exc).__name__}); run deploy/infra.sh start")
    yield client
    client.close()


@pytest.fixture
def mongo_db(mongo_client: MongoClient) -> Iterator[Database]:
    """A fresh database per test, dropped afterwards."""
    name = f"it_{uuid.uuid4().hex[:12]}"
    yield mongo_client[name]
    mongo_client.drop_database(name)


@pytest.fixture
def unique() -> str:
    """A suffix for topic and group names so tests never see each other's records."""
    return uuid.uuid4().hex[:10]
