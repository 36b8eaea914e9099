"""A three-broker KRaft cluster (deploy/kafka-cluster.sh) for the tests that kill brokers."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import missing
from tests.support.processes import ROOT

SCRIPT = str(ROOT / "deploy" / "kafka-cluster.sh")


def cluster(*args: str) -> str:
    out = subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=240, env=os.environ)
    if out.returncode != 0:
        raise RuntimeError(f"kafka-cluster.sh {' '.join(args)}: {out.stderr[-2000:]}")
    return out.stdout.strip()


@pytest.fixture(scope="module")
def kafka_cluster() -> Iterator[str]:
    """The cluster's bootstrap list; a fresh cluster per module, stopped afterwards."""
    try:
        cluster("start")
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        missing(f"three-broker cluster did not start: {exc}")
    try:
        yield cluster("bootstrap")
    finally:
        cluster("stop")
