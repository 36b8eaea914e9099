"""Steps the e2e tests share: what operators, schedulers, schools and guardians do, over HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from shared.auth import StaffTokens
from tests.e2e.conftest import Platform
from tests.support.processes import eventually, python_env
from tests.support.receivers import Mailbox

REFERRAL = json.loads((Path(__file__).parents[2] / "docs" / "examples" / "referral.json").read_text())


def staff(platform: Platform, role: str) -> dict[str, str]:
    token = StaffTokens(platform.env["WAYMARK_STAFF_TOKEN_SECRET"]).issue(f"e2e-{role}", role)
    return {"Authorization": f"Bearer {token}"}


def issue_school_key(platform: Platform, school_id: str) -> str:
    """Through the operators' command line, as a real operator would."""
    waymark = str(Path(sys.executable).parent / "waymark")
    out = subprocess.run(
        [waymark, "school-key", "create", school_id, "E2E Middle School"],
        env=python_env(platform.env),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return re.search(r"API key \(shown once, store it now\): (\S+)", out).group(1)


def open_clinic(platform: Platform, hospital_id: str) -> None:
    scheduler = staff(platform, "scheduler")
    hospital = {"name": "E2E Children's Hospital", "district": "haidian", "languages": ["zh", "en"]}
    put = requests.put(
        platform.url("scheduling", f"/v1/hospitals/{hospital_id}"), json=hospital, headers=scheduler
    )
    assert put.status_code == 200, put.text
    for weekday in ("mon", "tue", "wed", "thu", "fri"):
        session = {"weekday": weekday, "start": "09:00", "end": "12:00", "kind": "intake"}
        made = requests.post(
            platform.url("scheduling", f"/v1/hospitals/{hospital_id}/sessions"),
            json=session,
            headers=scheduler,
        )
        assert made.status_code == 201, made.text
    assert requests.post(platform.url("scheduling", "/v1/slots/materialise"), headers=scheduler).ok


def mail_with(mailbox: Mailbox, to: str, pattern: str) -> str:
    def found() -> str | None:
        for message in mailbox.to(to):
            text = Mailbox.text(message)
            if re.search(pattern, text):
                return text
        return None

    return eventually(found, timeout=90, interval=0.5, what=f"an email to {to} matching {pattern!r}")


def refer(platform: Platform, school: dict[str, str], run: str, hospital_id: str, guardian: str) -> str:
    body: dict[str, Any] = json.loads(json.dumps(REFERRAL))
    body["student"]["name"] = f"Child {run}"
    body["guardians"][0] |= {"email": guardian, "language": "en"}
    body["preferences"] |= {
        "hospitals": [hospital_id],
        "language": "en",
        "weekdays": ["mon", "tue", "wed", "thu", "fri"],
    }
    submitted = requests.post(platform.url("referral", "/v1/referrals"), json=body, headers=school)
    assert submitted.status_code == 201, submitted.text
    return submitted.json()["case_id"]


def case_status(platform: Platform, school: dict[str, str], case_id: str) -> str:
    return requests.get(platform.url("referral", f"/v1/referrals/{case_id}"), headers=school).json()["status"]
