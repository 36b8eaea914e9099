"""The whole platform as separate processes: gunicorn APIs + workers on Kafka/FerretDB, or `waymark run`.

Ports are moved to 180xx so a developer's own `make run` on 8001-8004 does not collide.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, sync_playwright

from services.platform import available
from tests.conftest import KAFKA_BOOTSTRAP, MONGO_URI, missing
from tests.support.processes import ROOT, eventually, python_env, running
from tests.support.receivers import Hook, Mailbox, smtp_server, webhook_server
from tests.support.secrets_env import TEST_SECRETS

SERVICES = ("referral", "assessment", "scheduling", "notification", "console")
# Both platforms live for the whole session, so each gets its own ports.
# WAYMARK_E2E_PORT_BASE moves them all (engineers sharing a machine each take their own block).
BASE = int(os.environ.get("WAYMARK_E2E_PORT_BASE", "18000"))
PORTS = {
    "stack": dict(zip(SERVICES, (BASE + 1, BASE + 2, BASE + 3, BASE + 4, BASE + 80), strict=True)),
    "embedded": dict(
        zip(SERVICES, (BASE + 101, BASE + 102, BASE + 103, BASE + 104, BASE + 180), strict=True)
    ),
}
SMTP_PORT = BASE + 25
ONCALL, SECOND_LINE = "e2e-oncall", "e2e-second-line"
ONCALL_EMAIL, SECOND_LINE_EMAIL = "oncall@e2e-hospital.example", "second-line@e2e-hospital.example"
TASK_DEADLINE_S = 40
WEBHOOK_PORT = BASE + 99
LOGS = ROOT / ".run" / "test-logs"
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = os.environ.get("WAYMARK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Platform:
    mode: str
    urls: dict[str, str]
    env: dict[str, str]

    def url(self, service: str, path: str = "") -> str:
        return self.urls[service] + path


def base_env(mode: str, run_id: str) -> dict[str, str]:
    env = {f"{name.upper()}_PORT": str(port) for name, port in PORTS[mode].items()}
    env |= {f"{name.upper()}_DB": f"e2e_{run_id}_{name}" for name in SERVICES}
    env["WAYMARK_AUTH_DB"] = f"e2e_{run_id}_auth"  # revoked staff tokens (shared.auth)
    env |= {
        "KAFKA_BOOTSTRAP": KAFKA_BOOTSTRAP,
        "MONGO_URI": MONGO_URI,
        **TEST_SECRETS,
        "WAYMARK_LOG_LEVEL": "INFO",
        # Lockout windows are clock-aligned; a day-long one keeps the lockout test off a boundary.
        "WAYMARK_STAFF_LOCKOUT_WINDOW_S": "86400",
        # The outside world, played by the tests' own real servers (tests/support/receivers.py).
        "NOTIFICATION_SMTP_HOST": "127.0.0.1",
        "NOTIFICATION_SMTP_PORT": str(SMTP_PORT),
        "NOTIFICATION_EMAIL_TRANSPORT": "smtp",
        "NOTIFICATION_SCHEDULER_INTERVAL_S": "0.5",
        "SCHEDULING_TICK_S": "2",
        "REFERRAL_ALLOW_HTTP_WEBHOOKS": "1",
        # The webhook receiver listens on 127.0.0.1: loopback targets only behind these explicit flags.
        "REFERRAL_ALLOW_LOOPBACK_WEBHOOKS": "1",
        "NOTIFICATION_ALLOW_LOOPBACK_WEBHOOKS": "1",
        # HZ-02: every hospital's escalations go to the network's on-call; a short drill deadline
        # lets the escalation e2e see the re-alert (half-way) within the test.
        "ASSESSMENT_ONCALL": json.dumps({"default": {"clinician": ONCALL, "second_line": SECOND_LINE}}),
        "ASSESSMENT_TASK_DEADLINE_S": str(TASK_DEADLINE_S),
        "ASSESSMENT_TASK_TICK_S": "1",
        "NOTIFICATION_ONCALL": json.dumps(
            {ONCALL: {"email": ONCALL_EMAIL}, SECOND_LINE: {"email": SECOND_LINE_EMAIL}}
        ),
    }
    return env


def wait_ready(urls: dict[str, str]) -> None:
    for name, url in urls.items():
        eventually(lambda url=url: _ready(url), timeout=60, what=f"{name} /readyz")


def _ready(url: str) -> bool:
    try:
        return requests.get(url + "/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="session")
def stack(kafka_bootstrap: str, mongo_client) -> Iterator[Platform]:
    """Each service as HAProxy -> two gunicorns (2 workers each) + two worker processes, on the real broker and store."""
    run_id = uuid.uuid4().hex[:6]
    env = base_env("stack", run_id) | {
        "WAYMARK_MODE": "kafka",
        "WAYMARK_RUN": str(ROOT / ".run" / f"e2e-{run_id}"),
        # The session's broker and store (tests/conftest.py); the balancer's API instances on BASE+40...
        "WAYMARK_STACK_INFRA": "external",
        "WAYMARK_STACK_API_PORT_BASE": str(BASE + 40),
    }
    full_env = python_env(env)
    subprocess.run([str(ROOT / "deploy" / "stack.sh"), "start"], env=full_env, check=True, timeout=180)
    urls = {name: f"http://127.0.0.1:{PORTS['stack'][name]}" for name in [*available(), "console"]}
    try:
        wait_ready(urls)
        yield Platform("stack", urls, env)
    finally:
        subprocess.run([str(ROOT / "deploy" / "stack.sh"), "stop"], env=full_env, timeout=120)
        for name in [*SERVICES, "auth"]:
            mongo_client.drop_database(f"e2e_{run_id}_{name}")


@pytest.fixture(scope="session")
def embedded() -> Iterator[Platform]:
    """`waymark run` as its own process: in-process bus and store, every API on its port."""
    env = base_env("embedded", uuid.uuid4().hex[:6]) | {"WAYMARK_MODE": "embedded"}
    waymark = str(Path(sys.executable).parent / "waymark")
    with running([waymark, "run"], env, LOGS / "embedded.log"):
        urls = {name: f"http://127.0.0.1:{PORTS['embedded'][name]}" for name in [*available(), "console"]}
        wait_ready(urls)
        yield Platform("embedded", urls, env)


@pytest.fixture(params=["embedded", "stack"])
def platform(request: pytest.FixtureRequest) -> Platform:
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    with smtp_server(SMTP_PORT) as box:
        yield box


@pytest.fixture(scope="session")
def hooks() -> Iterator[list[Hook]]:
    with webhook_server(WEBHOOK_PORT) as received:
        yield received


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (deploy/browser.sh installs it)."""
    if not Path(CHROMIUM).exists():
        missing(f"no Chromium at {CHROMIUM}; run deploy/browser.sh install")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
