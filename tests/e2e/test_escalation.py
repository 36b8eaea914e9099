"""One escalation end to end (issue 10, HZ-02), on the stack (separate processes on Kafka + FerretDB)
and on the embedded platform.

A clinician hands the young person their own private questionnaire link (``POST
/v1/cases/{id}/questionnaires``, HZ-04); the young person answers it in a real headless
Chromium and gives a risk answer (PHQ-A item 9), so the page shows crisis lines at once
and assessment escalates; its worker turns the escalation into a task owned by the
on-call clinician (not the clinician who made the link), notification
e-mails that clinician (real SMTP); nobody acknowledges, so at half the (drill) deadline
the clinician is e-mailed again; the clinician acknowledges, reads the family's contact
details (through referral) with a reason, and completes the task with an outcome. The
task's history, the triage audit and the access log then show who saw and did what.
"""

from __future__ import annotations

import uuid

import requests
from playwright.sync_api import Browser

from shared.auth import StaffTokens
from tests.e2e.conftest import ARTIFACTS, ONCALL, ONCALL_EMAIL, TASK_DEADLINE_S, Platform
from tests.e2e.steps import issue_school_key, mail_with, refer
from tests.support.processes import eventually


def as_staff(platform: Platform, who: str, role: str = "clinician") -> dict[str, str]:
    token = StaffTokens(platform.env["WAYMARK_STAFF_TOKEN_SECRET"]).issue(who, role)
    return {"Authorization": f"Bearer {token}"}


def young_persons_link(platform: Platform, case_id: str, clinician: dict[str, str]) -> dict:
    """The young person's private link (HZ-04), made by a clinician once the case reached assessment."""
    url = platform.url("assessment", f"/v1/cases/{case_id}/questionnaires")

    def made() -> requests.Response | None:
        response = requests.post(url, json={"addressed_to": "young_person"}, headers=clinician, timeout=5)
        return response if response.status_code == 201 else None

    link = eventually(made, timeout=60, what="the case triaged in assessment, then the link made").json()
    assert link["addressed_to"] == "young_person" and "phq-a" in link["instruments"]
    return link


def young_person_answers_with_a_risk(browser: Browser, platform: Platform, link: dict) -> None:
    """ "Not at all" everywhere, then PHQ-A item 9 "more than half the days": help shows before sending."""
    page = browser.new_page()
    page.goto(link["url"] + "?lang=en")
    page.wait_for_selector("#form:not([hidden])", timeout=20_000)
    for question in page.locator("fieldset").all():
        question.locator("input[type=radio]").first.check()
    assert page.is_hidden("#crisis")
    page.check('input[name="phq-a/9"][value="2"]')
    page.wait_for_selector("#crisis:not([hidden])", timeout=5_000)
    page.click("#send")
    page.wait_for_selector("#status.ok", timeout=20_000)
    assert page.is_visible("#crisis")
    page.screenshot(path=str(ARTIFACTS / f"escalation-risk-answer-{platform.mode}.png"), full_page=True)
    page.close()


def test_a_risk_answer_becomes_an_owned_task_re_alerted_acknowledged_and_audited(mailbox, platform, browser):
    run = uuid.uuid4().hex[:6]
    school = {"Authorization": f"Bearer {issue_school_key(platform, f'school-{run}')}"}
    case_id = refer(platform, school, run, f"h-{run}", f"guardian-{run}@example.org")
    oncall, colleague = as_staff(platform, ONCALL), as_staff(platform, f"e2e-colleague-{run}")
    assessment = platform.url("assessment")

    # The case reaches assessment over Kafka; a colleague makes the young person's private link,
    # and the young person answers it in Chromium with a risk answer.
    young_person_answers_with_a_risk(browser, platform, young_persons_link(platform, case_id, colleague))

    # One task, owned by the on-call clinician (not by whoever recorded the answer).
    def my_task():
        listed = requests.get(f"{assessment}/v1/tasks?state=requested", headers=oncall, timeout=5).json()
        return next((t for t in listed["items"] if t["focus"]["reference"] == f"Case/{case_id}"), None)

    task = eventually(my_task, timeout=60, what="the escalation task in the on-call clinician's list")
    assert task["owner"] == {"reference": f"Practitioner/{ONCALL}"}
    assert task["resourceType"] == "Task" and task["status"] == "requested"
    mail_with(mailbox, ONCALL_EMAIL, rf"task for case {case_id} is assigned to you")

    # Not acknowledged: at half the deadline the owner is alerted again (a second e-mail).
    eventually(
        lambda: any(f"case {case_id} is not acknowledged" in m["Subject"] for m in mailbox.to(ONCALL_EMAIL)),
        timeout=TASK_DEADLINE_S,
        interval=0.5,
        what="the re-alert e-mail to the on-call clinician",
    )
    task_url = f"{assessment}/v1/tasks/{task['id']}"
    fhir = requests.get(task_url, headers=oncall, timeout=5)
    assert fhir.headers["Content-Type"].startswith("application/fhir+json")

    # Only the owner works it; the owner acknowledges, reads the contacts (logged), completes.
    assert requests.post(task_url + "/acknowledge", headers=colleague, timeout=5).status_code == 404
    acknowledged = requests.post(task_url + "/acknowledge", headers=oncall, timeout=5)
    assert acknowledged.status_code == 200 and acknowledged.json()["status"] == "accepted"
    contacts_url = f"{assessment}/v1/cases/{case_id}/contacts"
    refused = requests.get(contacts_url, params={"reason": "curious"}, headers=colleague, timeout=5)
    assert refused.status_code == 403
    why = "escalation call: PHQ-A item 9"
    contacts = requests.get(contacts_url, params={"reason": why}, headers=oncall, timeout=10)
    assert contacts.status_code == 200, contacts.text
    assert contacts.json()["guardians"][0]["email"] == f"guardian-{run}@example.org"
    assert "school" not in contacts.json()  # never the school's webhook secret
    done = requests.post(
        task_url + "/complete",
        json={"outcome": "family_reached_safety_plan_made", "note": "safety plan agreed by phone"},
        headers=oncall,
        timeout=5,
    )
    assert done.status_code == 200 and done.json()["status"] == "completed"

    # The audit trail: who was alerted and who did what; the access log: who saw the contacts, why.
    history = requests.get(task_url + "/history", headers=oncall, timeout=5).json()
    steps = [(h["kind"], h.get("by") or h.get("recipient")) for h in history["history"]]
    assert steps[:3] == [("realert", ONCALL), ("acknowledged", ONCALL), ("completed", ONCALL)]
    completed = next(h for h in history["history"] if h["kind"] == "completed")
    assert completed["outcome"] == "family_reached_safety_plan_made"
    log = requests.get(f"{assessment}/v1/cases/{case_id}/access-log", headers=oncall, timeout=5).json()
    assert [(e["by"], e["why"]) for e in log["items"]] == [(ONCALL, why)]
    triage = requests.get(f"{assessment}/v1/cases/{case_id}/triage", headers=oncall, timeout=5).json()
    escalation = triage["escalations"][-1]
    assert any("phq_a_item9_positive" in reason for reason in escalation["reasons"]), escalation
    assert triage["versions"][-1]["band"] == "P1"
    # The answer on record is the young person's own (informant ``child``), made through their link.
    trajectory = requests.get(
        f"{assessment}/v1/cases/{case_id}/instruments/phq-a/trajectory", headers=oncall, timeout=5
    ).json()
    assert [(p["informant"], "phq_a_item9_positive" in p["flags"]) for p in trajectory["points"]] == [
        ("child", True)
    ], trajectory
