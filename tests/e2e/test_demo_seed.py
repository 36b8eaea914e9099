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
    # the banner gives the operator a console sign-in token
    operator = re.search(r"Console sign-in: .*\n\s+(\S+)", out).group(1)
    overview = stack.url("console", "/api/overview")
    assert (
        requests.get(overview, headers={"Authorization": f"Bearer {operator}"}, timeout=10).status_code == 200
    )
