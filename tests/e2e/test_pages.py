"""The people-facing pages in a real headless Chromium: the operator console and the scheduler's page."""

from __future__ import annotations

import uuid

import requests

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.steps import case_status, issue_school_key, open_clinic, refer, staff
from tests.support.processes import eventually


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
    page.goto(stack.url("scheduling", "/ui"))
    page.fill("#token", scheduler["Authorization"].removeprefix("Bearer "))
    page.click("#auth button")
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
    page.close()

    eventually(
        lambda: case_status(stack, school, case_id) == "booked",
        timeout=60,
        what="the booking to reach referral",
    )
