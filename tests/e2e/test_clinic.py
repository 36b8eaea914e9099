"""The clinician's workspace (/clinic) in headless Chromium: the assessment service's real app on the
real store (FerretDB), a clinician signing in through the real form, working an overdue escalation
task from the worklist to the case record; a scheduler's session is refused the page."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from services.assessment.bootstrap import build
from shared.auth import StaffTokens
from shared.events import Event
from shared.settings import Settings
from tests.e2e.conftest import ARTIFACTS, BASE, ONCALL, TASK_DEADLINE_S
from tests.e2e.steps import REFERRAL, issue_school_key
from tests.support.processes import eventually, python_env
from tests.unit.assessment.conftest import SECRET, Clock, outbox, submitted

PORT = BASE + 52
ROOT = f"http://127.0.0.1:{PORT}"
CLINICIAN, SCHEDULER = "dr-east", "sched-east"
PASSWORD = "clinic-e2e-password-0123456789"
ROSTER = {"h-east": {"clinician": CLINICIAN, "second_line": "dr-east-2"}}
INSTRUMENTS = Path(__file__).parents[2] / "services" / "assessment" / "instruments"
RED = "rgb(176, 0, 32)"  # #b00020, the page's "overdue"


@pytest.fixture
def clinic(mongo_client, mongo_db) -> Iterator[tuple[Any, Any, Clock]]:
    auth_db = f"clinic_{uuid.uuid4().hex[:8]}"
    shipped = ",".join(sorted(p.stem for p in INSTRUMENTS.glob("*.json")))
    extra = {"ASSESSMENT_ONCALL": json.dumps(ROSTER), "ASSESSMENT_LICENSED_INSTRUMENTS": shipped}
    settings = Settings(
        service="assessment",
        staff_token_secret=SECRET,
        host="127.0.0.1",
        port=PORT,
        auth_db=auth_db,
        extra=extra,
    )
    clock = Clock(datetime.now(UTC) - timedelta(days=3))  # the escalation happened three days ago
    service = build(settings, db=mongo_db, clock=clock)
    server = make_server("127.0.0.1", PORT, service.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield service, mongo_db, clock
    finally:
        server.shutdown()
        mongo_client.drop_database(auth_db)


def gad7(level: int) -> dict[str, Any]:
    """A GAD-7 administration answering every item with the ``level``-th option."""
    instrument = json.loads((INSTRUMENTS / "gad-7.json").read_text())
    answers = {
        item["id"]: instrument["scales"][item["scale"]][level]["value"] for item in instrument["items"]
    }
    return {"informant": instrument["informants"][0], "responses": answers}


def world(service: Any, db: Any, clock: Clock) -> tuple[str, dict[str, Any]]:
    """Two ordinary referrals (older, so escalation must be what puts the urgent one first), one with a
    code the rules do not know (needs review), one self-harm referral escalated three days ago (its
    24-hour task now overdue), scored twice with GAD-7."""
    handle = lambda e: service.handlers[e.name](e)  # noqa: E731
    start = clock.now.date()
    handle(submitted("case-quiet-1", referred_on=(start - timedelta(days=9)).isoformat()))
    handle(submitted("case-quiet-2", referred_on=(start - timedelta(days=8)).isoformat()))
    handle(submitted("case-unknown-code", referred_on=start.isoformat(), concerns=["werewolf_concern"]))
    handle(submitted("case-urgent", referred_on=start.isoformat(), risk_flags=["self_harm"]))
    (escalated,) = outbox(db, "assessment.escalated")
    handle(Event.from_dict(escalated))
    task = db.tasks.find_one({"case_id": "case-urgent"})
    assert task["owner"] == CLINICIAN
    # referral's contacts route is another service's HTTP; the escalation tests' stand-in answers here
    tasks = service.handlers["assessment.escalated"].__self__
    tasks.contacts = lambda case_id: {"case_id": case_id, "guardians": [{"phone": "+86 138 0000 0000"}]}
    token = {"Authorization": f"Bearer {StaffTokens(SECRET).issue('dr-assessor', 'clinician')}"}
    for level, days in ((2, 0), (1, 2)):  # severe at first, better two days later
        clock.now = clock.now + timedelta(days=days)
        scored = requests.post(
            f"{ROOT}/v1/cases/case-urgent/instruments/gad-7/responses",
            json=gad7(level),
            headers=token,
            timeout=10,
        )
        assert scored.status_code == 201, scored.text
    clock.now = datetime.now(UTC)
    return task["_id"], task


def sign_in(page: Any, username: str, target: str = "/clinic") -> None:
    page.goto(ROOT + target)
    page.wait_for_selector("#signin")
    assert "/staff/sign-in" in page.url  # a stranger is sent to the form first
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#signin button")


def assert_worklist(page: Any, task_id: str) -> None:
    # The triage queue: the escalated case first, though it was referred last.
    rows = page.locator("#queue tbody tr")
    order = [rows.nth(i).get_attribute("data-case") for i in range(rows.count())]
    assert order[0] == "case-urgent" and "escalated" in rows.nth(0).get_attribute("class")
    assert sorted(order) == ["case-quiet-1", "case-quiet-2", "case-unknown-code", "case-urgent"]
    # Cases awaiting review: the referral with a code the rule table does not know, and only it.
    assert page.locator("#reviews tbody tr button.open").all_inner_texts() == ["Open case-unknown-code"]
    # My tasks: the overdue one, in red, with its owner; no family contact anywhere in the worklist.
    task_row = page.locator(f'#tasks tbody tr[data-task="{task_id}"]')
    assert "overdue" in task_row.get_attribute("class")
    assert CLINICIAN in task_row.inner_text() and "overdue" in task_row.inner_text()
    due = task_row.locator("td").nth(3).locator("span")
    assert due.evaluate("e => getComputedStyle(e).color") == RED
    assert "+86" not in page.inner_text("body") and "guardian" not in page.inner_text("body").lower()
    page.screenshot(path=str(ARTIFACTS / "clinic-worklist.png"), full_page=True)


def assert_case_record(page: Any, db: Any) -> None:
    rows = page.locator("#queue tbody tr")
    # The case record: triage history with its factors, the GAD-7 plot, the open task.
    rows.nth(0).locator("button.open").click()
    page.wait_for_selector("#case:not([hidden]) svg.score-plot", timeout=20_000)
    assert page.inner_text("#case-id") == "case-urgent"
    assert "self_harm" in page.inner_text("#triage")
    plot = page.locator('svg.score-plot[data-instrument="gad-7"]')
    assert plot.locator("circle.point").count() >= 2 and plot.locator("polyline.series").count() >= 1
    heights = plot.locator("circle.point").evaluate_all("cs => cs.map(c => Number(c.getAttribute('cy')))")
    assert heights[0] < heights[-1]  # severe first (higher on the plot), better two days later
    page.screenshot(path=str(ARTIFACTS / "clinic-case-record.png"), full_page=True)

    # The family's contacts: only on asking, with a reason, and the read is in the access log (HZ-02).
    assert page.inner_text("#contacts") == ""
    page.fill('#contacts-form input[name="reason"]', "escalation call to the family")
    page.click("#contacts-form button")
    page.wait_for_selector("#contacts:has-text('+86 138 0000 0000')", timeout=20_000)
    (read,) = db.contact_access_log.find({"case_id": "case-urgent"})
    assert read["by"] == CLINICIAN and read["why"] == "escalation call to the family"


def test_a_clinician_works_an_overdue_escalation_from_the_worklist_to_its_case_record(browser, clinic):
    service, db, clock = clinic
    task_id, _task = world(service, db, clock)
    auth = service.app.extensions["waymark_staff_auth"]
    auth.create_account(CLINICIAN, "clinician", ["*"], password=PASSWORD, name="Dr East")

    page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="en-GB")
    sign_in(page, CLINICIAN)
    page.wait_for_url(f"{ROOT}/clinic", timeout=20_000)
    page.wait_for_selector("#status.ok", timeout=20_000)
    assert page.inner_text("#who").startswith(f"Signed in as {CLINICIAN} (clinician, *)")

    assert_worklist(page, task_id)
    assert_case_record(page, db)

    case_task = page.locator(f'#case-tasks tbody tr[data-task="{task_id}"]')
    case_task.locator("button.ack").click()
    page.wait_for_selector("#status.ok:has-text('Task acknowledged.')", timeout=20_000)
    assert db.tasks.find_one({"_id": task_id})["state"] == "acknowledged"
    case_task = page.locator(f'#case-tasks tbody tr[data-task="{task_id}"]')
    assert case_task.locator("button.ack").count() == 0
    case_task.locator("select.outcome").select_option("family_reached_safety_plan_made")
    case_task.locator('input[name="note"]').fill("called, safety plan agreed")
    case_task.locator("button.complete").click()
    page.wait_for_selector("#status.ok:has-text('Task completed.')", timeout=20_000)
    stored = db.tasks.find_one({"_id": task_id})
    assert stored["state"] == "completed" and stored["outcome"] == "family_reached_safety_plan_made"
    assert page.locator(f'#tasks tbody tr[data-task="{task_id}"]').count() == 0
    page.screenshot(path=str(ARTIFACTS / "clinic-task-completed.png"), full_page=True)

    page.goto(f"{ROOT}/clinic?lang=zh-CN")
    page.wait_for_selector("#status.ok", timeout=20_000)
    assert page.inner_text("h1") == "诊室" and page.inner_text("#who").startswith("当前登录")
    page.screenshot(path=str(ARTIFACTS / "clinic-worklist-zh-CN.png"), full_page=True)
    page.close()


def test_a_schedulers_session_is_refused_the_clinic_page(browser, clinic):
    service, _db, _clock = clinic
    auth = service.app.extensions["waymark_staff_auth"]
    auth.create_account(SCHEDULER, "scheduler", ["*"], password=PASSWORD)
    context = browser.new_context()
    page = context.new_page()
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if r.url == f"{ROOT}/clinic" else None)
    sign_in(page, SCHEDULER)
    page.wait_for_selector("#forbidden", timeout=20_000)
    assert statuses[-1] == 403 and page.locator("#tasks").count() == 0
    assert requests.get(f"{ROOT}/v1/triage/queue", timeout=5).status_code == 401
    page.screenshot(path=str(ARTIFACTS / "clinic-refused-scheduler.png"), full_page=True)
    page.click("#signout")  # to switch accounts: the session ends, the next visit asks to sign in
    page.wait_for_selector("#signin", timeout=20_000)
    assert not [c for c in context.cookies() if c["name"] == "waymark_session"]
    context.close()


def test_a_clinician_takes_on_an_unowned_escalation_and_then_completes_it(browser, clinic):
    """A hospital with nobody on call: its task is unowned, shown to every clinician, taken on by one."""
    service, db, _clock = clinic
    west = {"hospitals": ["h-west"], "home_district": "north", "language": "zh-CN"}
    service.handlers["referral.submitted"](submitted("case-west", risk_flags=["self_harm"], preferences=west))
    (escalated,) = outbox(db, "assessment.escalated")
    service.handlers["assessment.escalated"](Event.from_dict(escalated))
    task_id = db.tasks.find_one({"case_id": "case-west"})["_id"]
    assert db.tasks.find_one({"_id": task_id})["owner"] == "unowned"
    auth = service.app.extensions["waymark_staff_auth"]
    auth.create_account("dr-any", "clinician", ["*"], password=PASSWORD)

    page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="en-GB")
    sign_in(page, "dr-any")
    page.wait_for_selector(f'#tasks tbody tr[data-task="{task_id}"]', timeout=20_000)
    assert "unowned" in page.inner_text(f'#tasks tbody tr[data-task="{task_id}"]')
    page.locator(f'#tasks tbody tr[data-task="{task_id}"] button.open').click()
    row = page.locator(f'#case-tasks tbody tr[data-task="{task_id}"]')
    row.wait_for(timeout=20_000)
    assert row.locator("button.complete").count() == 0  # not theirs to complete until taken on
    row.locator("button.ack").click()
    page.wait_for_selector("#status.ok:has-text('Task acknowledged.')", timeout=20_000)
    assert db.tasks.find_one({"_id": task_id})["owner"] == "dr-any"
    row = page.locator(f'#case-tasks tbody tr[data-task="{task_id}"]')
    row.locator("select.outcome").select_option("family_reached_no_acute_risk")
    row.locator("button.complete").click()
    page.wait_for_selector("#status.ok:has-text('Task completed.')", timeout=20_000)
    assert db.tasks.find_one({"_id": task_id})["outcome"] == "family_reached_no_acute_risk"
    page.close()


def test_on_the_stack_the_on_call_clinician_signs_in_and_works_the_escalation_from_the_clinic_page(
    browser, stack
):
    """The deployed stack (HAProxy, gunicorn workers, Kafka, FerretDB): a school refers a child at risk,
    assessment escalates it to the on-call clinician, who signs in on /clinic through the real form."""
    run = uuid.uuid4().hex[:6]
    school = {"Authorization": f"Bearer {issue_school_key(stack, f'school-{run}')}"}
    body = json.loads(json.dumps(REFERRAL))
    body["student"]["name"] = f"Child {run}"
    body["risk_indicators"]["self_harm"] = True
    body["preferences"] |= {"hospitals": [f"h-{run}"], "language": "en"}
    made = requests.post(stack.url("referral", "/v1/referrals"), json=body, headers=school, timeout=10)
    assert made.status_code == 201, made.text
    case_id = made.json()["case_id"]
    oncall = {
        "Authorization": f"Bearer {StaffTokens(stack.env['WAYMARK_STAFF_TOKEN_SECRET']).issue(ONCALL, 'clinician')}"
    }

    def the_task() -> dict[str, Any] | None:
        listed = requests.get(stack.url("assessment", "/v1/tasks?state=requested"), headers=oncall, timeout=5)
        return next((t for t in listed.json()["items"] if t["focus"]["reference"] == f"Case/{case_id}"), None)

    task_id = eventually(the_task, timeout=90, what="the escalation task of the on-call clinician")["id"]
    password = f"oncall-password-{run}-0123"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "waymark"),
            "staff",
            "create",
            ONCALL,
            "clinician",
            "--password-stdin",
        ],
        input=password + "\n",
        env=python_env(stack.env),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )

    page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="en-GB")
    page.goto(stack.url("assessment", "/clinic"))
    page.wait_for_selector("#signin")
    page.fill("#username", ONCALL)
    page.fill("#password", password)
    page.click("#signin button")
    page.wait_for_url(stack.url("assessment", "/clinic"), timeout=20_000)
    page.wait_for_selector(f'#tasks tbody tr[data-task="{task_id}"]', timeout=20_000)
    first = page.locator("#queue tbody tr").first
    assert "escalated" in first.get_attribute("class")  # escalated cases head the queue
    assert "escalated" in page.locator(f'#queue tbody tr[data-case="{case_id}"]').get_attribute("class")

    def overdue_in_red() -> bool:  # the drill deadline (ASSESSMENT_TASK_DEADLINE_S) passes
        page.reload()
        row = page.locator(f'#tasks tbody tr[data-task="{task_id}"]')
        row.wait_for(timeout=20_000)
        due = row.locator("td").nth(3).locator("span")
        return (
            "overdue" in (row.get_attribute("class") or "")
            and due.evaluate("e => getComputedStyle(e).color") == RED
        )

    eventually(overdue_in_red, timeout=TASK_DEADLINE_S + 60, interval=5, what="the task overdue, in red")
    page.screenshot(path=str(ARTIFACTS / "clinic-stack-worklist.png"), full_page=True)
    page.locator(f'#tasks tbody tr[data-task="{task_id}"] button.open').click()
    row = page.locator(f'#case-tasks tbody tr[data-task="{task_id}"]')
    row.wait_for(timeout=20_000)
    row.locator("button.ack").click()
    page.wait_for_selector("#status.ok:has-text('Task acknowledged.')", timeout=20_000)
    row = page.locator(f'#case-tasks tbody tr[data-task="{task_id}"]')
    row.locator("select.outcome").select_option("family_reached_no_acute_risk")
    row.locator("button.complete").click()
    page.wait_for_selector("#status.ok:has-text('Task completed.')", timeout=20_000)
    done = requests.get(stack.url("assessment", f"/v1/tasks/{task_id}"), headers=oncall, timeout=5).json()
    assert done["status"] == "completed" and done["output"][0]["valueCodeableConcept"]["coding"][0][
        "code"
    ] == ("family_reached_no_acute_risk")
    page.screenshot(path=str(ARTIFACTS / "clinic-stack-completed.png"), full_page=True)
    page.close()


def two_hospitals(service: Any, db: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """h-east's escalation (owned by its on-call) and h-south's (nobody on call there: unowned), and a
    case of h-south's awaiting review."""
    handle = lambda e: service.handlers[e.name](e)  # noqa: E731
    east = {"hospitals": ["h-east"], "home_district": "north", "language": "zh-CN"}
    south = {"hospitals": ["h-south"], "home_district": "north", "language": "zh-CN"}
    handle(submitted("case-east", risk_flags=["self_harm"], preferences=east))
    handle(submitted("case-south", risk_flags=["self_harm"], preferences=south))
    handle(submitted("case-south-quiet", concerns=["werewolf_concern"], preferences=south))
    for escalated in outbox(db, "assessment.escalated"):
        handle(Event.from_dict(escalated))
    mine = db.tasks.find_one({"case_id": "case-east"})
    theirs = db.tasks.find_one({"case_id": "case-south"})
    assert (mine["owner"], theirs["owner"]) == (CLINICIAN, "unowned")
    assert db.cases.find_one({"_id": "case-south-quiet"})["needs_review"]  # a regional clinician's review
    tasks = service.handlers["assessment.escalated"].__self__
    tasks.contacts = lambda case_id: {"case_id": case_id, "guardians": [{"phone": "+86 138 0000 0000"}]}
    return mine, theirs


def test_a_hospital_scoped_on_call_sees_only_their_hospitals_task_and_works_it(browser, clinic):
    """HZ-02: the on-call of h-east, scoped to h-east only, sees h-east's escalation and not h-south's
    (unowned, nobody on call there) nor its cases; another hospital's case answers 404 on their session."""
    service, db, _clock = clinic
    mine, theirs = two_hospitals(service, db)
    auth = service.app.extensions["waymark_staff_auth"]
    auth.create_account(CLINICIAN, "clinician", ["h-east"], password=PASSWORD, name="Dr East")

    page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="en-GB")
    sign_in(page, CLINICIAN)
    page.wait_for_url(f"{ROOT}/clinic", timeout=20_000)
    page.wait_for_selector(f'#tasks tbody tr[data-task="{mine["_id"]}"]', timeout=20_000)
    assert page.inner_text("#who").startswith(f"Signed in as {CLINICIAN} (clinician, h-east)")
    listed = page.locator("#tasks tbody tr[data-task]").evaluate_all("rs => rs.map(r => r.dataset.task)")
    assert listed == [mine["_id"]]  # not h-south's unowned task
    queue = page.locator("#queue tbody tr").evaluate_all("rs => rs.map(r => r.dataset.case)")
    assert queue == ["case-east"]
    assert page.locator("#reviews tbody tr button.open").count() == 0  # h-south's review case is not mine
    assert "case-south" not in page.inner_text("body")
    page.screenshot(path=str(ARTIFACTS / "clinic-hospital-scoped-worklist.png"), full_page=True)
    # the session's own requests: another hospital's case and task look like unknown ones
    assert page.request.get(f"{ROOT}/v1/cases/case-south/triage").status == 404
    assert page.request.get(f"{ROOT}/v1/tasks/{theirs['_id']}").status == 404
    assert page.request.get(f"{ROOT}/v1/cases/case-east/triage").status == 200

    page.locator(f'#tasks tbody tr[data-task="{mine["_id"]}"] button.open').click()
    row = page.locator(f'#case-tasks tbody tr[data-task="{mine["_id"]}"]')
    row.wait_for(timeout=20_000)
    assert page.inner_text("#case-id") == "case-east" and "self_harm" in page.inner_text("#triage")
    page.fill('#contacts-form input[name="reason"]', "escalation call to the family")
    page.click("#contacts-form button")
    page.wait_for_selector("#contacts:has-text('+86 138 0000 0000')", timeout=20_000)
    (read,) = db.contact_access_log.find({"case_id": "case-east"})
    assert read["by"] == CLINICIAN
    row.locator("button.ack").click()
    page.wait_for_selector("#status.ok:has-text('Task acknowledged.')", timeout=20_000)
    assert db.tasks.find_one({"_id": mine["_id"]})["state"] == "acknowledged"
    row = page.locator(f'#case-tasks tbody tr[data-task="{mine["_id"]}"]')
    row.locator("select.outcome").select_option("family_reached_safety_plan_made")
    row.locator("button.complete").click()
    page.wait_for_selector("#status.ok:has-text('Task completed.')", timeout=20_000)
    stored = db.tasks.find_one({"_id": mine["_id"]})
    assert stored["state"] == "completed" and stored["outcome"] == "family_reached_safety_plan_made"
    assert db.tasks.find_one({"_id": theirs["_id"]})["state"] == "requested"  # untouched
    page.screenshot(path=str(ARTIFACTS / "clinic-hospital-scoped-completed.png"), full_page=True)
    page.close()
