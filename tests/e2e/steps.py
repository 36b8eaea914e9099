"""Steps the e2e tests share: what operators, schedulers, schools and guardians do, over HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import requests

from shared.auth import StaffTokens
from tests.e2e.conftest import LOGS, Platform
from tests.support.processes import eventually, python_env
from tests.support.receivers import Mailbox

REFERRAL = json.loads((Path(__file__).parents[2] / "docs" / "examples" / "referral.json").read_text())


def staff(platform: Platform, role: str) -> dict[str, str]:
    token = StaffTokens(platform.env["WAYMARK_STAFF_TOKEN_SECRET"]).issue(f"e2e-{role}", role)
    return {"Authorization": f"Bearer {token}"}


_LOGINS: dict[tuple[str, str], tuple[str, str]] = {}


def staff_login(platform: Platform, role: str) -> tuple[str, str]:
    """A user name and password for ``role``: made with ``waymark staff create`` on the stack's store;
    the embedded platform keeps accounts in its own memory and prints its demo logins at start."""
    key = (platform.env["WAYMARK_AUTH_DB"], role)
    if key not in _LOGINS:
        if platform.mode == "embedded":
            printed = (LOGS / "embedded.log").read_text(errors="replace")
            found = re.findall(rf"user (demo-{role})\s+password (\S+)", printed)
            assert found, f"no demo {role} login in the embedded platform's log"
            _LOGINS[key] = found[-1]
        else:
            username, password = f"e2e-{role}", f"e2e-{role}-password-{uuid.uuid4().hex[:8]}"
            subprocess.run(
                [
                    str(Path(sys.executable).parent / "waymark"),
                    "staff",
                    "create",
                    username,
                    role,
                    "--password-stdin",
                ],
                input=password + "\n",
                env=python_env(platform.env),
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            )
            _LOGINS[key] = (username, password)
    return _LOGINS[key]


def sign_in(
    page: Any, platform: Platform, service: str, path: str, role: str, screenshot: Path | None = None
) -> None:
    """Open a staff page, get sent to the sign-in page, sign in, and land back on the page."""
    username, password = staff_login(platform, role)
    page.goto(platform.url(service, path))
    page.wait_for_selector("#signin")
    assert "/staff/sign-in" in page.url, page.url
    if screenshot is not None:
        page.screenshot(path=str(screenshot), full_page=True)
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#signin button")
    page.wait_for_url(platform.url(service, path))


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
