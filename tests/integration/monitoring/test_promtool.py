"""The monitoring artefacts pass Prometheus's own checks (promtool, from Debian's prometheus package)."""

from __future__ import annotations

import shutil
import subprocess

import mongomock
import pytest

from services.platform import available
from shared import metrics
from shared.settings import Settings
from tests.conftest import ROOT, missing

PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        missing("promtool not installed; run deploy/prometheus.sh install")
    return found


def check(promtool: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([promtool, "check", *args], input=stdin, capture_output=True, text=True, timeout=60)


def test_scrape_config_and_alert_rules_are_valid(promtool):
    config = check(promtool, "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr
    rules = check(promtool, "rules", str(PROMETHEUS_DIR / "alerts.yml"))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    written = (PROMETHEUS_DIR / "alerts.yml").read_text().count("- alert: ")
    assert f"SUCCESS: {written} rules found" in rules.stdout  # every rule written was loaded


def test_every_services_metrics_pass_the_linter(promtool):
    for name in available():
        module = __import__(f"services.{name}.bootstrap", fromlist=["build"])
        service = module.build(Settings(service=name), db=mongomock.MongoClient(tz_aware=True)[name])
        client = service.app.test_client()
        client.get("/healthz")
        client.get("/v1/no-such-route")
    from services.scheduling.domain.pressure import BandPressure
    from services.scheduling.metrics import publish

    # Real samples for the waitlist gauges too: promtool only lints families that have samples.
    publish([BandPressure("h1", "P1", waiting=4, capacity=2, predicted_wait_days=9, projected_breaches=1,
                          oldest_wait_days=3, level="high")])  # fmt: skip
    from services.assessment import metrics as assessment_metrics

    assessment_metrics.UNOWNED_OPEN.set(1)
    assessment_metrics.ONCALL_GAPS.set(1)
    assessment_metrics.UNOWNED_TASKS.labels("h1").inc()
    assessment_metrics.TASK_ALERTS.labels("realert").inc()
    from services.notification import metrics as notification_metrics

    notification_metrics.ONCALL_UNREACHABLE.labels("task_alert").inc()
    exposition = metrics.exposition()[0].decode()
    for family in (
        "waymark_http_requests_total",
        "waymark_predicted_wait_seconds",
        "waymark_notifications_total",
        "waymark_assessment_oncall_gaps",
        "waymark_assessment_unowned_tasks_total",
    ):
        assert f"# TYPE {family.removesuffix('_total')}" in exposition
    linted = check(promtool, "metrics", stdin=exposition)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert linted.stdout.strip() == "", linted.stdout  # no lint findings at all


def test_a_broken_rule_is_caught(promtool, tmp_path):
    """The check above can fail: a rule with bad PromQL is refused."""
    broken = tmp_path / "broken.yml"
    broken.write_text("groups:\n- name: x\n  rules:\n  - alert: X\n    expr: sum by (\n")
    assert check(promtool, "rules", str(broken)).returncode != 0


def test_the_clinical_safety_pages_fire_from_their_metrics(promtool):
    """HZ-02: an on-call gap, an unowned escalation and an unaddressable alert each page."""
    result = subprocess.run(
        [promtool, "test", "rules", str(PROMETHEUS_DIR / "tests" / "clinical-safety.test.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
