"""Staff identity on the real store (FerretDB): lockout and one-time codes under racing requests,
sessions shared by two services, disable ending sessions, and the ``waymark staff`` command.

FerretDB has no transactions and its conditional updates can have several winners; the
only atomic step is a unique insert. These tests race real threads against it to show the
lockout and the TOTP replay guard hold on that.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pyotp
import pytest

from services.console.bootstrap import build as build_console
from services.scheduling.bootstrap import build as build_scheduling
from services.scheduling.config import Config
from shared.settings import Settings
from shared.staff.signin import StaffAuth
from tests.conftest import MONGO_URI
from tests.support.processes import python_env
from tests.unit.shared.staff.conftest import CHEAP, PASSWORD

pytestmark = pytest.mark.integration
OWN = {"Origin": "http://localhost"}


@pytest.fixture
def auth_db_name(mongo_client):
    name = f"auth_{uuid.uuid4().hex[:8]}"
    yield name
    mongo_client.drop_database(name)


def race(n: int, action: Callable[[], bool]) -> list[bool]:
    barrier = threading.Barrier(n)
    results: list[bool] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        outcome = action()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_racing_wrong_passwords_get_at_most_the_allowed_attempts(mongo_client, auth_db_name):
    auth = StaffAuth(mongo_client[auth_db_name], passwords=CHEAP, max_attempts=5, window_s=900)
    auth.create_account("target", "clinician", ["bch"], password=PASSWORD)
    outcomes = []
    lock = threading.Lock()

    def guess() -> bool:
        outcome = auth.sign_in("target", "wrong password!!")
        with lock:
            outcomes.append(outcome.problem)
        return True

    race(16, guess)
    assert outcomes.count("refused") == 5 and outcomes.count("locked") == 11
    assert auth.sign_in("target", PASSWORD).problem == "locked"
    assert auth.lockout.clear("target") == 5
    assert auth.sign_in("target", PASSWORD).ok


def test_a_totp_code_is_accepted_once_however_many_requests_race(mongo_client, auth_db_name):
    auth = StaffAuth(mongo_client[auth_db_name], passwords=CHEAP)
    secret = pyotp.random_base32()
    code = pyotp.TOTP(secret).now()
    assert race(8, lambda: auth.codes.accept("dr-li", secret, code)).count(True) == 1


def test_a_session_made_on_the_console_works_on_scheduling_until_the_account_is_disabled(
    mongo_client, mongo_db, auth_db_name
):
    """Two apps sharing only the store, as in the stack: one sign-in, every staff page."""
    settings = {"auth_db": auth_db_name}
    console_auth = StaffAuth(mongo_client[auth_db_name], passwords=CHEAP)
    console = build_console(
        Settings(service="console", **settings),
        urls={},
        auth_db=mongo_client[auth_db_name],
        staff_auth=console_auth,
    ).test_client()
    scheduling = build_scheduling(
        Settings(service="scheduling", **settings),
        db=mongo_db,
        config=Config(offer_secret="integration-offer-secret-0123456789"),
        run_duties=False,
    ).app.test_client()
    console_auth.create_account("op-it", "operator", ["*"], password=PASSWORD)
    form = console.get("/staff/sign-in").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    signed = console.post(
        "/staff/sign-in",
        data={"csrf_token": csrf, "username": "op-it", "password": PASSWORD, "next": "/"},
        headers=OWN,
    )
    assert signed.status_code == 303
    session_id = console.get_cookie("waymark_session").value
    scheduling.set_cookie("waymark_session", session_id)
    assert scheduling.get("/v1/pressure").status_code == 200  # operators read pressure
    assert scheduling.get("/staff/session").get_json()["username"] == "op-it"
    assert mongo_client[auth_db_name]["staff_sessions"].find_one({"username": "op-it"})["_id"] != session_id
    assert console_auth.disable("op-it") == 1
    assert scheduling.get("/v1/pressure").status_code == 401
    assert console.get("/api/overview").status_code == 401


def test_the_staff_command_manages_accounts_on_the_real_store(mongo_client, auth_db_name):
    env = python_env(
        {"WAYMARK_MODE": "kafka", "MONGO_URI": MONGO_URI, "WAYMARK_AUTH_DB": auth_db_name,
         "WAYMARK_STAFF_TOKEN_SECRET": "integration-staff-secret-0123456789"}
    )  # fmt: skip
    waymark = str(Path(sys.executable).parent / "waymark")

    def staff(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run(
            [waymark, "staff", *args], input=stdin, env=env, capture_output=True, text=True, timeout=60
        )

    created = staff("create", "sched-it", "scheduler", "--hospital", "bch", "--hospital", "hdm")
    assert created.returncode == 0, created.stderr
    password = created.stdout.split("hand it over safely): ")[1].strip()
    assert staff("create", "sched-it", "scheduler").returncode == 1
    auth = StaffAuth(mongo_client[auth_db_name])
    session = auth.sign_in("sched-it", password)
    assert session.ok and session.session.hospitals == ("bch", "hdm")
    listed = staff("list", "--hospital", "hdm")
    assert '"username": "sched-it"' in listed.stdout and "argon2" not in listed.stdout
    disabled = staff("disable", "sched-it")
    assert disabled.stdout.strip() == "disabled sched-it; ended 1 session(s)"
    assert auth.sessions.resolve(session.session_id) is None
    assert auth.sign_in("sched-it", password).problem == "refused"
