"""Test-session wiring shared by every tier: infrastructure discovery and the CI rule.

Integration and e2e tests need the real broker and store (``deploy/infra.sh start``,
which ``make test`` runs). Locally they skip with a reason when those are absent;
under CI (CI=true) a missing part is a failure, never a skip.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from shared import kafka

ROOT = Path(__file__).resolve().parent.parent
KAFKA_BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", f"127.0.0.1:{os.environ.get('KAFKA_PORT', '19092')}")
MONGO_URI = os.environ.get(
    "MONGO_URI", f"mongodb://127.0.0.1:{os.environ.get('FERRETDB_PORT', '27017')}/?directConnection=true"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def infra_versions() -> dict[str, str]:
    """What we really run against: asked of the live broker's scripts and the live store."""
    versions = {}
    for part in ("kafka", "ferretdb"):
        script = ROOT / "deploy" / f"{part}.sh"
        try:
            out = subprocess.run([str(script), "version"], capture_output=True, text=True, timeout=20)
            versions[part] = out.stdout.strip() or out.stderr.strip()[-200:]
        except (OSError, subprocess.TimeoutExpired) as exc:
            versions[part] = f"unknown ({exc})"
    try:
        from pymongo import MongoClient

        client: MongoClient = MongoClient(MONGO_URI, serverSelectionTimeoutMS=1500)
        info = client.admin.command("buildInfo")
        versions["store buildInfo"] = f"MongoDB wire version {info.get('version')}"
        client.close()
    except Exception as exc:
        versions["store buildInfo"] = f"unreachable ({type(exc).__name__})"
    return versions


def pytest_report_header(config: pytest.Config) -> list[str]:
    if config.getoption("markexpr", "") == "not integration and not e2e":
        return []
    lines = [f"infrastructure: kafka={KAFKA_BOOTSTRAP} mongo={MONGO_URI} CI={IN_CI}"]
    lines += [f"  {name}: {version}" for name, version in infra_versions().items()]
    return lines


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tiers by folder; tests that restart shared infrastructure run last."""
    for item in items:
        tier = Path(str(item.fspath)).relative_to(ROOT / "tests").parts[0]
        if tier in ("integration", "e2e"):
            item.add_marker(getattr(pytest.mark, tier))
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)


def missing(reason: str) -> None:
    """Fail under CI, skip locally: the rule for every test that needs real parts."""
    if IN_CI:
        pytest.fail(f"required infrastructure missing under CI: {reason}", pytrace=False)
    pytest.skip(reason)


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
