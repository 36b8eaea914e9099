"""A school's referral ends in a booked appointment, a guardian email and a signed school webhook.

Runs twice: on the embedded platform (`waymark run`, one process) and on the stack
(gunicorn + workers per service over Kafka and FerretDB). Everything crosses real
process boundaries: HTTP to the services, SMTP to the test's relay, the webhook to the
test's receiver; the guardian opens the link from the email they received in headless
Chromium and presses Accept.
"""

from __future__ import annotations

import re
import uuid

import requests

from services.platform import available
from tests.e2e.conftest import ARTIFACTS, WEBHOOK_PORT
from tests.e2e.steps import case_status, issue_school_key, mail_with, open_clinic, refer, sign_in, staff
from tests.support.processes import eventually


def test_a_referral_ends_booked_with_email_and_signed_webhook(mailbox, hooks, browser, platform):
    run = uuid.uuid4().hex[:6]
    hospital_id, guardian = f"h-{run}", f"guardian-{run}@example.org"
    school = {"Authorization": f"Bearer {issue_school_key(platform, f'school-{run}')}"}
    hook = requests.put(
        platform.url("referral", "/v1/webhook"),
        json={"url": f"http://127.0.0.1:{WEBHOOK_PORT}/waymark/{run}"},
        headers=school,
    )
    assert hook.status_code == 201, hook.text
    secret = hook.json()["secret"]
    open_clinic(platform, hospital_id)
    case_id = refer(platform, school, run, hospital_id, guardian)

    offer = mail_with(mailbox, guardian, r"/ui/offer/")
    link = re.search(r"https?://\S+/ui/offer/\S+", offer).group(0)
    page = browser.new_page()
    page.goto(link)
    page.get_by_role("button", name="Accept").click()
    page.wait_for_selector("#status.ok", timeout=20_000)
    page.screenshot(path=str(ARTIFACTS / f"guardian-offer-accepted-{platform.mode}.png"))
    page.close()

    eventually(lambda: case_status(platform, school, case_id) == "booked", timeout=60, what="a booked case")
    mail_with(mailbox, guardian, r"(?i)booked|confirmed")

    def booked_hook():
        for h in hooks:
            if (
                h.path == f"/waymark/{run}"
                and h.json.get("case_id") == case_id
                and h.json.get("status") == "appointment_booked"  # coarse statuses only (HZ-13)
            ):
                return h
        return None

    delivered = eventually(
        booked_hook, timeout=60, what="a signed 'appointment_booked' webhook for the school"
    )
    assert delivered.signed_by(secret)
    assert not delivered.signed_by("someone-else's-secret")
    assert f"Child {run}" not in delivered.body.decode()  # ids and status only, no personal data

    # The young person's own questionnaire (HZ-04: never on the guardian's link): a clinician
    # creates the private link and hands it over; the young person answers it in the browser.
    clinician = staff(platform, "clinician")
    link = eventually(
        lambda: requests.post(
            platform.url("assessment", f"/v1/cases/{case_id}/questionnaires"),
            json={"addressed_to": "young_person"},
            headers=clinician,
            timeout=5,
        ),
        timeout=30,
        what="a young person's questionnaire link",
    )
    assert link.status_code == 201, link.text
    page = browser.new_page()
    page.goto(link.json()["url"] + "?lang=en")
    page.wait_for_selector("#form:not([hidden])", timeout=20_000)
    for question in page.locator("fieldset").all():
        question.locator("input[type=radio]").first.check()
    page.get_by_role("button", name="Send answers").click()
    page.wait_for_selector("#status.ok", timeout=20_000)
    page.close()
    trajectory = platform.url("assessment", f"/v1/cases/{case_id}/instruments/phq-a/trajectory")
    eventually(
        lambda: requests.get(trajectory, headers=clinician, timeout=5).json().get("points"),
        timeout=30,
        what="the answered PHQ-A in the clinician's view",
    )


def test_the_operator_console_shows_every_service_ready(browser, platform):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    # operators only: the page sends a stranger to sign in with a staff account (shared.staff)
    sign_in(page, platform, "console", "/", "operator", ARTIFACTS / f"console-signin-{platform.mode}.png")
    for name in available():
        page.wait_for_selector(f'tr[data-service="{name}"] .status.ready', timeout=30_000)
    assert "updated" in page.inner_text("#refreshed")
    # Runs after the referral journey in the same mode: its events show in the figures.
    published = page.inner_text('tr[data-service="referral"] td:nth-child(4)')
    assert published.replace(",", "").isdigit() and int(published.replace(",", "")) > 0, published
    assert page.locator("#pressure tbody tr").count() > 0
    page.screenshot(path=str(ARTIFACTS / f"console-{platform.mode}.png"), full_page=True)
    page.close()
