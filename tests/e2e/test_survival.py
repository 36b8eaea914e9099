"""`make stack` survives kill -9 of any process: supervisord restarts it, nobody steps in.

The first two tests run on the session's stack (broker and store shared with the other
tests, so not killed here): every worker and the first gunicorn instance of every API
are killed once. A gunicorn master killed with -9 used to leave its workers holding the
port for ~110 s, so the restarted master could not bind (shared/gunicorn_conf.py).

The last test starts a stack of its own exactly as `make stack` runs it — PostgreSQL,
FerretDB and Kafka under the same supervisord, HAProxy in front of two API instances per
service, a watchdog for supervisord — and kills -9 one process of each kind in turn.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from services.platform import available
from tests.conftest import missing
from tests.e2e.conftest import BASE, Platform, base_env, wait_ready
from tests.e2e.steps import case_status, issue_school_key, open_clinic, refer, staff
from tests.support.processes import ROOT, eventually, python_env

RESTART_BOUND_S = 30.0  # gunicorn boot + app build on a loaded 2-core machine: ~7 s measured
APIS = [*available(), "console"]  # deploy/stack.sh's order, which places each instance's port


def instance_url(port_base: int, service: str, n: int) -> str:
    """Instance n of a service's API, behind the balancer (deploy/stack.sh instance_port)."""
    return f"http://127.0.0.1:{port_base + n * len(APIS) + APIS.index(service)}"


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
    for service in APIS:
        program = f"{service}-api:{service}-api-0"
        master = pid_of(stack, program)
        workers = children(master)
        assert workers, f"{service}'s gunicorn master has no workers"
        os.kill(master, signal.SIGKILL)
        started = time.monotonic()
        eventually(
            lambda workers=workers: not any(alive(w) for w in workers),
            timeout=5,
            what=f"{service}'s orphaned gunicorn workers to die with their master",
        )
        url = instance_url(BASE + 40, service, 0)  # the session stack's WAYMARK_STACK_API_PORT_BASE
        eventually(
            lambda program=program, master=master, url=url: (
                int(ctl(stack, "pid", program) or 0) not in (0, master) and ready(url)
            ),
            timeout=RESTART_BOUND_S,
            interval=0.5,
            what=f"{service}'s API to answer again from a restarted master",
        )
        print(f"{service} api back in {time.monotonic() - started:.1f}s")


# The stack of the last test: its own ports (BASE+120...) and its own run dir, so its broker and
# store are its own to kill. One worker per service (a killed worker must itself come back for
# work to flow) and one gunicorn worker per instance keep it light beside the session's stack.
OWN = {
    "services": dict(zip(APIS, range(BASE + 130, BASE + 130 + len(APIS)), strict=True)),
    "api_port_base": BASE + 120,
    "kafka": BASE + 135,
    "kafka_controller": BASE + 136,
    "ferretdb": BASE + 137,
    "postgres": BASE + 138,
}
STEP_BOUND_S = 300.0  # a kill's recovery, through the referral reaching the waitlist (Kafka: ~60 s loaded)


def infra_installed() -> str | None:
    """What `make stack` needs that is not here, or None."""
    cache = Path(os.environ.get("WAYMARK_CACHE", Path.home() / ".cache" / "waymark"))
    if not Path("/usr/sbin/haproxy").exists():
        return "no /usr/sbin/haproxy (deploy/stack.sh install)"
    if not list(Path("/usr/lib/postgresql").glob("*/bin/postgres")) and not os.environ.get(
        "POSTGRES_BIN_DIR"
    ):
        return "no PostgreSQL server (deploy/postgres.sh install)"
    if not list(cache.glob("kafka-*/libs/kafka_2.13-*.jar")):
        return f"no Kafka jars in {cache} (deploy/infra.sh install)"
    if not list(cache.glob("ferretdb-*/ferretdb")):
        return f"no FerretDB binary in {cache} (deploy/infra.sh install)"
    return None


@pytest.fixture(scope="module")
def own_stack(mailbox) -> Iterator[Platform]:
    """`deploy/stack.sh start` with supervised infrastructure, as `make stack` runs it."""
    reason = infra_installed()
    if reason:
        missing(reason)
    run_id = uuid.uuid4().hex[:6]
    env = base_env("stack", run_id) | {
        **{f"{name.upper()}_PORT": str(port) for name, port in OWN["services"].items()},
        "WAYMARK_MODE": "kafka",
        "WAYMARK_RUN": str(ROOT / ".run" / f"surv-{run_id}"),
        "WAYMARK_STACK_INFRA": "supervised",
        "WAYMARK_STACK_API_PORT_BASE": str(OWN["api_port_base"]),
        "WAYMARK_STACK_APIS": "2",
        "WAYMARK_STACK_WORKERS": "1",
        "GUNICORN_WORKERS": "1",
        "KAFKA_PORT": str(OWN["kafka"]),
        "KAFKA_CONTROLLER_PORT": str(OWN["kafka_controller"]),
        "FERRETDB_PORT": str(OWN["ferretdb"]),
        "POSTGRES_PORT": str(OWN["postgres"]),
        "KAFKA_BOOTSTRAP": f"127.0.0.1:{OWN['kafka']}",
        "MONGO_URI": f"mongodb://127.0.0.1:{OWN['ferretdb']}",
        "STACK_READY_TIMEOUT": "300",
    }
    full_env = python_env(env)
    stack_sh = str(ROOT / "deploy" / "stack.sh")
    urls = {name: f"http://127.0.0.1:{port}" for name, port in OWN["services"].items()}
    try:
        subprocess.run([stack_sh, "start"], env=full_env, check=True, timeout=600)
        wait_ready(urls)
        yield Platform("stack", urls, env)
    finally:
        subprocess.run([stack_sh, "stop"], env=full_env, timeout=180)
        shutil.rmtree(env["WAYMARK_RUN"], ignore_errors=True)


def supervisord_pid(stack: Platform) -> int:
    path = Path(stack.env["WAYMARK_RUN"]) / "stack" / "supervisord.pid"
    try:
        return int(path.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def program_pid(program: str) -> Callable[[Platform], int]:
    return lambda stack: int(ctl(stack, "pid", program) or 0)


# Each kind of process, in the order killed, with how to find its pid. supervisord goes last: the
# watchdog starts everything again.
KILLS: list[tuple[str, Callable[[Platform], int]]] = [
    ("a worker (referral)", program_pid("referral-worker:referral-worker-0")),
    ("a gunicorn master (referral instance 0)", program_pid("referral-api:referral-api-0")),
    ("the load balancer (HAProxy)", program_pid("lb")),
    ("Kafka", program_pid("kafka")),
    ("FerretDB", program_pid("ferretdb")),
    ("PostgreSQL (postmaster)", program_pid("postgres")),
    ("the watchdog", program_pid("watchdog")),
    ("supervisord", supervisord_pid),
]


def submit(stack: Platform, school: dict[str, str], run: str, hospital_id: str) -> str:
    """A referral, re-posted while the service cannot take it yet (a duplicate is recognised)."""

    def accepted() -> str | None:
        try:
            return refer(stack, school, run, hospital_id, f"guardian-{run}@example.test")
        except (AssertionError, requests.RequestException):
            return None

    return eventually(accepted, timeout=STEP_BOUND_S, interval=1, what=f"referral {run} to be accepted")


def on_waitlist(stack: Platform, scheduler: dict[str, str], case_id: str) -> bool:
    try:
        return requests.get(
            stack.url("scheduling", f"/v1/waitlist/{case_id}"), headers=scheduler, timeout=5
        ).ok
    except requests.RequestException:
        return False


class Requester(threading.Thread):
    """Sequential GETs through the balancer; at most one is ever in flight."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.ok, self.failed, self.done = url, 0, 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                answered = requests.get(self.url, timeout=10).status_code == 200
            except requests.RequestException:
                answered = False
            self.ok, self.failed = self.ok + answered, self.failed + (not answered)


def server_status(stack: Platform, backend: str, server: str) -> str:
    """What HAProxy's admin socket says of one server now (``show stat``: UP, DOWN, ...)."""
    path = str(Path(stack.env["WAYMARK_RUN"]) / "stack" / "haproxy.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(path)
        sock.sendall(b"show stat\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    rows = csv.reader(answer.decode().lstrip("# ").splitlines())
    header = next(rows)
    for row in rows:
        fields = dict(zip(header, row, strict=False))
        if fields.get("pxname") == backend and fields.get("svname") == server:
            return fields.get("status", "").split(" ")[0]
    return "absent"


def balancer_checks_instances(stack: Platform) -> None:
    """HAProxy takes an instance out when its /readyz stops answering and back when it answers.

    (A killed instance is usually back before two checks fail; refused connections are retried
    on the other instance meanwhile, which the kill below shows.)"""
    lb_log = Path(stack.env["WAYMARK_RUN"]) / "stack" / "lb.log"

    def logged(text: str, since: int) -> bool:
        with lb_log.open() as log:
            log.seek(since)
            return text in log.read()

    # Start from both instances in rotation: right after a start HAProxy may not yet have seen
    # instance 0 pass its checks, and stopping a server it holds DOWN logs no new DOWN.
    eventually(
        lambda: server_status(stack, "referral", "referral-0") == "UP", timeout=120, what="instance 0 UP"
    )
    seen = lb_log.stat().st_size
    ctl(stack, "stop", "referral-api:referral-api-0")
    eventually(
        lambda: logged("Server referral/referral-0 is DOWN", seen), timeout=30, what="the balancer's DOWN"
    )
    assert ready(stack.url("referral")), "the other instance serves the port meanwhile"
    seen = lb_log.stat().st_size
    ctl(stack, "start", "referral-api:referral-api-0")
    eventually(
        lambda: logged("Server referral/referral-0 is UP", seen), timeout=120, what="the balancer's UP"
    )


@pytest.mark.timeout(1500)  # one stack start (~1-2 min) and seven recoveries, on a loaded 2-core machine
def test_make_stack_resumes_after_kill_9_of_each_kind_of_process_with_no_manual_step(own_stack: Platform):
    stack = own_stack
    run = uuid.uuid4().hex[:6]
    hospital_id = f"h-surv-{run}"
    school = {"Authorization": f"Bearer {issue_school_key(stack, f'school-surv-{run}')}"}
    scheduler = staff(stack, "scheduler")
    open_clinic(stack, hospital_id)
    first = submit(stack, school, f"{run}-first", hospital_id)
    eventually(
        lambda: on_waitlist(stack, scheduler, first),
        timeout=STEP_BOUND_S,
        what="the first case on the waitlist",
    )

    balancer_checks_instances(stack)
    timings: list[str] = []
    for kind, find_pid in KILLS:
        old = find_pid(stack)
        assert old > 0 and alive(old), f"{kind} is not running: {ctl(stack, 'status')}"
        requester = None
        if kind.startswith("a gunicorn master"):
            requester = Requester(stack.url("referral", "/healthz"))
            requester.start()
            time.sleep(1)
        os.kill(old, signal.SIGKILL)
        started = time.monotonic()
        print(f"{time.strftime('%H:%M:%S')} killed {kind} (pid {old})", flush=True)
        eventually(lambda old=old: not alive(old), timeout=10, what=f"{kind} (pid {old}) to die")
        new = eventually(
            lambda old=old, find_pid=find_pid: (
                (pid := find_pid(stack)) not in (0, old) and alive(pid) and pid
            ),
            timeout=STEP_BOUND_S,
            interval=0.5,
            what=f"{kind} to be started again by the supervisor",
        )
        restarted = time.monotonic() - started
        case_id = submit(stack, school, f"{run}-{len(timings)}", hospital_id)
        eventually(
            lambda case_id=case_id: on_waitlist(stack, scheduler, case_id),
            timeout=STEP_BOUND_S,
            interval=0.5,
            what=f"a referral posted after killing {kind} to reach the waitlist",
        )
        if requester is not None:
            # Until the killed instance is back in the balancer's rotation (it answers /readyz).
            eventually(lambda: ready(instance_url(OWN["api_port_base"], "referral", 0)), timeout=STEP_BOUND_S)
            time.sleep(5)  # two health checks: the balancer takes it back
            requester.done.set()
            requester.join(timeout=15)
            assert requester.ok > 10, f"the balancer answered only {requester.ok} requests"
            # Only a request inside the dying instance may be lost; refused connections are retried.
            assert requester.failed <= 1, f"{requester.failed} of {requester.ok + requester.failed} lost"
            print(
                f"through the balancer while instance 0 was killed: {requester.ok} answered, {requester.failed} lost"
            )
        timings.append(
            f"{kind}: pid {old} -> {new} in {restarted:.1f}s, "
            f"referral on the waitlist {time.monotonic() - started:.1f}s after the kill"
        )
        print(timings[-1])
    assert supervisord_pid(stack) > 0 and alive(supervisord_pid(stack))
