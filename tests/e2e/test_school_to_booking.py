"""A school's referral ends in a booked appointment, a guardian email and a signed school webhook.

Runs twice: on the embedded platform (`waymark run`, one process) and on the stack
(gunicorn + workers per service over Kafka and FerretDB). Everything crosses real
process boundaries: HTTP to the services, SMTP to the test's relay, the webhook to the
test's receiver; the guardian "clicks" the link from the email they received.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import requests

from shared.auth import StaffTokens
from tests.e2e.conftest import WEBHOOK_PORT, Platform
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


def test_a_referral_ends_booked_with_email_and_signed_webhook(mailbox, hooks, platform):
    run = uuid.uuid4().hex[:6]
    school_id, hospital_id = f"school-{run}", f"h-{run}"
    guardian = f"guardian-{run}@example.org"
    key = issue_school_key(platform, school_id)
    school = {"Authorization": f"Bearer {key}"}
    hook = requests.put(
        platform.url("referral", "/v1/webhook"),
        json={"url": f"http://127.0.0.1:{WEBHOOK_PORT}/waymark/{run}"},
        headers=school,
    )
    assert hook.status_code == 201, hook.text
    secret = hook.json()["secret"]
    open_clinic(platform, hospital_id)

    body = json.loads(json.dumps(REFERRAL))
    body["student"]["name"] = f"Child {run}"
    body["guardians"][0] |= {"email": guardian, "language": "en"}
    body["preferences"] |= {
        "hospitals": [hospital_id],
        "language": "en",
        "weekdays": ["mon", "tue", "wed", "thu", "fri"],
    }
    submitted = requests.post(platform.url("referral", "/v1/referrals"), json=body, headers=school)
    assert submitted.status_code == 201, submitted.text
    case_id = submitted.json()["case_id"]

    offer = mail_with(mailbox, guardian, r"/ui/offer/")
    token = re.search(r"/ui/offer/([A-Za-z0-9_.\-]+)", offer).group(1)
    accepted = requests.post(platform.url("scheduling", f"/v1/offer-responses/{token}/accept"))
    assert accepted.status_code == 200, accepted.text

    def status() -> str:
        return requests.get(platform.url("referral", f"/v1/referrals/{case_id}"), headers=school).json()[
            "status"
        ]

    eventually(lambda: status() == "booked", timeout=60, what="the case to be booked")
    mail_with(mailbox, guardian, r"(?i)booked|confirmed")

    def booked_hook():
        for h in hooks:
            if (
                h.path == f"/waymark/{run}"
                and h.json.get("case_id") == case_id
                and h.json.get("status") == "booked"
            ):
                return h
        return None

    delivered = eventually(booked_hook, timeout=60, what="a signed 'booked' webhook for the school")
    assert delivered.signed_by(secret)
    assert not delivered.signed_by("someone-else's-secret")
    assert "Child" not in delivered.body.decode()  # ids and status only, no personal data
