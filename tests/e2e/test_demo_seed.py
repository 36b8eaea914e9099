"""`waymark seed` fills a running stack through its APIs (what `make stack` does after starting it)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import requests

from tests.e2e.steps import case_status
from tests.support.processes import eventually, python_env


def test_seeding_the_stack_gives_schools_keys_and_cases_that_reach_the_waitlist(stack):
    waymark = str(Path(sys.executable).parent / "waymark")
    out = subprocess.run(
        [waymark, "seed", "--referrals", "24"],
        env=python_env(stack.env),
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    ).stdout
    key = re.search(r"API key: (wm_school_\S+)", out).group(1)
    school = {"Authorization": f"Bearer {key}"}
    cases = requests.get(stack.url("referral", "/v1/referrals"), headers=school, timeout=10).json()
    assert cases["total"] == 2  # 24 referrals over 12 schools
    first = cases["items"][0]["case_id"]
    eventually(
        lambda: case_status(stack, school, first) in ("waitlisted", "offered", "booked"),
        timeout=60,
        what="a seeded case to be triaged and waitlisted",
    )
    assert f"curl -s -H 'Authorization: Bearer {key}'" in out
    # the banner gives three staff logins; the operator's signs in to the console (form, CSRF, Origin)
    username, password = re.search(r"operator\s+user (demo-operator)\s+password (\S+)", out).groups()
    assert re.search(r"scheduler\s+user demo-scheduler\s+password \S+", out)
    assert re.search(r"clinician\s+user demo-clinician\s+password \S+", out)
    # the cookies are Secure, which requests will not send over http by itself: pass them by hand
    form = requests.get(stack.url("console", "/staff/sign-in?next=/"), timeout=10)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    signed_in = requests.post(
        stack.url("console", "/staff/sign-in"),
        data={"csrf_token": csrf, "username": username, "password": password, "next": "/"},
        cookies={"waymark_signin": form.cookies["waymark_signin"]},
        headers={"Origin": stack.url("console")},
        allow_redirects=False,
        timeout=10,
    )
    assert signed_in.status_code == 303, signed_in.text
    cookie = signed_in.cookies["waymark_session"]
    overview = stack.url("console", "/api/overview")
    assert requests.get(overview, cookies={"waymark_session": cookie}, timeout=10).status_code == 200
    assert requests.get(overview, timeout=10).status_code == 401
