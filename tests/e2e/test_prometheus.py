"""A real Prometheus server (Debian's package) scrapes the stack and answers a waitlist query."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
import requests

from tests.conftest import missing
from tests.e2e.conftest import LOGS, PORTS
from tests.e2e.steps import issue_school_key, open_clinic, refer
from tests.support.processes import eventually, running

PROMETHEUS_PORT = 19090
API = f"http://127.0.0.1:{PROMETHEUS_PORT}/api/v1"


@pytest.fixture
def prometheus(stack, tmp_path: Path):
    binary = shutil.which("prometheus")
    if binary is None:
        missing("prometheus not installed; run deploy/prometheus.sh install")
    targets = ", ".join(f'"127.0.0.1:{PORTS["stack"][name]}"' for name in stack.urls if name != "console")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: waymark\n    static_configs: [{{targets: [{targets}]}}]\n"
    )
    args = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}",
    ]
    with running(args, {}, LOGS / "prometheus.log"):
        eventually(lambda: _ok(f"http://127.0.0.1:{PROMETHEUS_PORT}/-/ready"), timeout=30, what="prometheus")
        yield API


def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


def query(api: str, promql: str) -> list[dict]:
    answer = requests.get(f"{api}/query", params={"query": promql}, timeout=5).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def test_prometheus_scrapes_every_service_and_reads_the_waitlist(stack, prometheus):
    run = uuid.uuid4().hex[:6]
    hospital_id = f"h-{run}"
    school = {"Authorization": f"Bearer {issue_school_key(stack, f'school-{run}')}"}
    open_clinic(stack, hospital_id)
    refer(stack, school, run, hospital_id, f"guardian-{run}@example.org")

    def all_up() -> list[dict]:
        found = [r for r in query(prometheus, 'up{job="waymark"}') if r["value"][1] == "1"]
        return found if len(found) == 4 else []

    eventually(all_up, timeout=30, what="all four services up in Prometheus")
    sizes = eventually(
        lambda: query(prometheus, f'waymark_waitlist_size{{hospital="{hospital_id}"}}'),
        timeout=60,
        what=f"waymark_waitlist_size for {hospital_id} in Prometheus",
    )
    assert {r["metric"]["band"] for r in sizes} == {"P1", "P2", "P3"}
    published = query(prometheus, 'sum(waymark_events_published_total{type="referral.submitted"})')
    assert float(published[0]["value"][1]) >= 1
