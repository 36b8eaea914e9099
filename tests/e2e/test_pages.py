"""The people-facing pages in a real headless Chromium: console, scheduler's page, questionnaire page."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import mongomock
import pytest
import requests
from werkzeug.serving import make_server

from services.assessment.bootstrap import build
from shared.auth import StaffTokens
from shared.settings import Settings
from tests.e2e.conftest import ARTIFACTS, BASE
from tests.e2e.steps import case_status, issue_school_key, open_clinic, refer, sign_in, staff, staff_login
from tests.support.processes import eventually
from tests.unit.assessment.conftest import SECRET, Clock, submitted


def test_a_scheduler_finds_the_case_and_books_a_slot_from_the_page(browser, stack):
    run = uuid.uuid4().hex[:6]
    hospital_id = f"h-{run}"
    school = {"Authorization": f"Bearer {issue_school_key(stack, f'school-{run}')}"}
    open_clinic(stack, hospital_id)
    case_id = refer(stack, school, run, hospital_id, f"guardian-{run}@example.org")
    scheduler = staff(stack, "scheduler")
    eventually(
        lambda: requests.get(stack.url("scheduling", f"/v1/waitlist/{case_id}"), headers=scheduler).ok,
        timeout=60,
        what="the case on the regional waitlist",
    )

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    sign_in(page, stack, "scheduling", "/ui", "scheduler", ARTIFACTS / "scheduler-signin.png")
    page.wait_for_selector("#who:has-text('Signed in as e2e-scheduler (scheduler')")
    page.select_option('#filters select[name="state"]', "all")
    page.fill('#filters input[name="hospital_id"]', hospital_id)
    page.click("#filters button")
    page.wait_for_selector(f'#waitlist tbody tr:has-text("{case_id}")', timeout=20_000)
    assert page.inner_text("#page-info") == "Page 1" and page.is_disabled("#next")  # one family, one page

    page.fill('#slots input[name="hospital_id"]', hospital_id)
    page.click("#slots button")
    first_slot = page.wait_for_selector("#slot-list tbody tr td", timeout=20_000).inner_text()
    page.fill('#book input[name="case_id"]', case_id)
    page.fill('#book input[name="slot_id"]', first_slot)
    page.click("#book button")
    page.wait_for_selector('#status.ok:has-text("Booked.")', timeout=20_000)
    page.screenshot(path=str(ARTIFACTS / "scheduler-booked.png"), full_page=True)
    page.click("#signout button")  # ends the session in the store: the page needs signing in again
    page.wait_for_selector("#signin")
    page.goto(stack.url("scheduling", "/ui"))
    assert "/staff/sign-in" in page.url
    page.close()

    eventually(
        lambda: case_status(stack, school, case_id) == "booked",
        timeout=60,
        what="the booking to reach referral",
    )


@pytest.fixture
def assessment_app() -> Iterator[tuple[str, Any, Any]]:
    """The assessment service's real Flask app (store: mongomock) on a loopback port, for page-only tests."""
    settings = Settings(service="assessment", staff_token_secret=SECRET, host="127.0.0.1", port=BASE + 50)
    db = mongomock.MongoClient(tz_aware=True)["assessment_pages"]
    service = build(settings, db=db, clock=Clock(datetime.now(UTC)))
    server = make_server("127.0.0.1", BASE + 50, service.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{BASE + 50}", service, db
    finally:
        server.shutdown()


def test_a_wrong_password_is_refused_on_the_page_and_repeated_failures_lock_the_name(browser, stack):
    """The stack's lockout (5 per 15 minutes by default) is store-backed: every gunicorn worker sees it."""
    username, password = staff_login(stack, "clinician")
    page = browser.new_page()
    page.goto(stack.url("scheduling", "/staff/sign-in?next=/ui"))
    for attempt in range(6):
        page.fill("#username", username)
        page.fill("#password", f"not-the-password-{attempt}")
        page.click("#signin button")
        page.wait_for_selector("#problem")
    assert "Too many failed attempts" in page.inner_text("#problem")
    page.screenshot(path=str(ARTIFACTS / "staff-signin-locked.png"), full_page=True)
    page.fill("#username", username)
    page.fill("#password", password)  # the right password, but the name is locked for this window
    page.click("#signin button")
    page.wait_for_selector("#problem")
    assert "Too many failed attempts" in page.inner_text("#problem") and "/staff/sign-in" in page.url
    page.close()


def test_a_young_person_sees_crisis_lines_in_chinese_the_moment_they_give_a_risk_answer(
    browser, assessment_app
):
    """HZ-04: the young person's own link, in zh-CN; a risk answer shows crisis resources at once."""
    base, service, db = assessment_app
    today = datetime.now(UTC).date().isoformat()
    service.handlers["referral.submitted"](submitted(age_years=14, referred_on=today))
    clinician = {"Authorization": f"Bearer {StaffTokens(SECRET).issue('dr-li', 'clinician')}"}
    link = requests.post(
        f"{base}/v1/cases/case-1/questionnaires",
        json={"addressed_to": "young_person"},
        headers=clinician,
        timeout=5,
    )
    assert link.status_code == 201, link.text

    page = browser.new_page()
    page.goto(link.json()["url"])
    page.wait_for_selector("#form:not([hidden])", timeout=20_000)
    assert page.inner_text("h1") == "就诊前请你填写的问卷"
    assert "青少年患者健康问卷" in page.inner_text("#instruments")
    assert page.is_hidden("#crisis")
    for question in page.locator("fieldset").all():
        question.locator("input[type=radio]").first.check()
    assert page.is_hidden("#crisis")  # "not at all" everywhere: no risk answer yet
    page.check('input[name="phq-a/12"][value="1"]')  # past-month serious thoughts: yes
    page.wait_for_selector("#crisis:not([hidden])", timeout=5_000)
    assert "12356" in page.inner_text("#crisis") and "谢谢你告诉我们" in page.inner_text("#crisis")
    page.screenshot(path=str(ARTIFACTS / "young-person-crisis-zh-CN.png"), full_page=True)
    page.get_by_role("button", name="提交答案").click()
    page.wait_for_selector("#status.ok", timeout=20_000)
    assert page.is_visible("#crisis")
    page.close()

    case = db.cases.find_one({"_id": "case-1"})
    assert case["escalated"] is True and {a["informant"] for a in case["administrations"]} == {"child"}

    english = browser.new_page()
    english.goto(link.json()["url"] + "?lang=en")
    english.wait_for_selector("#status:has-text('already been sent')", timeout=20_000)
    english.close()
