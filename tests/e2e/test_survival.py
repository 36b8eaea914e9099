"""`make stack` survives kill -9 of any process: supervisord restarts it, nobody steps in.

Runs last (file order) on the session's stack: it kills every worker and every gunicorn
master once, then checks that each service answers and that work flows through the
restarted workers. A gunicorn master killed with -9 used to leave its workers holding
the port for ~110 s, so the restarted master could not bind (shared/gunicorn_conf.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import requests

from services.platform import available
from tests.e2e.conftest import Platform
from tests.e2e.steps import case_status, issue_school_key, refer
from tests.support.processes import ROOT, eventually, python_env

RESTART_BOUND_S = 30.0  # gunicorn boot + app build on a loaded 2-core machine: ~7 s measured


def ctl(stack: Platform, *args: str) -> str:
    done = subprocess.run(
        [str(ROOT / "deploy" / "stack.sh"), "ctl", *args],
        env=python_env(stack.env),
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stdout.strip()


def pid_of(stack: Platform, program: str) -> int:
    pid = int(ctl(stack, "pid", program) or 0)
    assert pid > 0, f"{program} is not running: {ctl(stack, 'status')}"
    return pid


def alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def ready(url: str) -> bool:
    try:
        return requests.get(url + "/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def heartbeat_pid(stack: Platform, service: str, instance: int) -> int:
    path = Path(stack.env["WAYMARK_RUN"]) / "stack" / "heartbeats" / f"{service}-worker-{instance}.heartbeat"
    try:
        return int(path.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def test_every_worker_killed_with_sigkill_is_restarted_and_work_flows_again(stack: Platform):
    for service in available():
        for instance in (0, 1):  # deploy/stack.sh runs two workers per service
            program = f"{service}-worker:{service}-worker-{instance}"
            old = pid_of(stack, program)
            os.kill(old, signal.SIGKILL)
            started = time.monotonic()

            def restarted(
                service: str = service, program: str = program, old: int = old, n: int = instance
            ) -> bool:
                new = int(ctl(stack, "pid", program) or 0)
                return (
                    new not in (0, old)
                    and heartbeat_pid(stack, service, n) == new
                    and ready(stack.url(service))
                )

            eventually(restarted, timeout=RESTART_BOUND_S, interval=0.5, what=f"{program} to come back")
            assert not alive(old)
            print(f"{program} back in {time.monotonic() - started:.1f}s")

    # The restarted referral and assessment workers carry a new referral through triage.
    run = uuid.uuid4().hex[:6]
    school = {"Authorization": f"Bearer {issue_school_key(stack, f'school-survive-{run}')}"}
    case_id = refer(stack, school, run, "hosp-survive", f"guardian-{run}@example.test")
    eventually(
        lambda: case_status(stack, school, case_id) != "submitted",
        timeout=60,
        interval=0.5,
        what="the case to move past submitted through the restarted workers",
    )


def test_a_gunicorn_master_killed_with_sigkill_takes_its_workers_and_is_back_within_the_bound(
    stack: Platform,
):
    for service in [*available(), "console"]:
        master = pid_of(stack, f"{service}-api")
        workers = children(master)
        assert workers, f"{service}'s gunicorn master has no workers"
        os.kill(master, signal.SIGKILL)
        started = time.monotonic()
        eventually(
            lambda workers=workers: not any(alive(w) for w in workers),
            timeout=5,
            what=f"{service}'s orphaned gunicorn workers to die with their master",
        )
        eventually(
            lambda service=service, master=master: (
                int(ctl(stack, "pid", f"{service}-api") or 0) not in (0, master) and ready(stack.url(service))
            ),
            timeout=RESTART_BOUND_S,
            interval=0.5,
            what=f"{service}'s API to answer again from a restarted master",
        )
        print(f"{service} api back in {time.monotonic() - started:.1f}s")
