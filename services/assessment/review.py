"""Referral review before acceptance: the gate between a school's referral and triage.

Rules in services/assessment/domain/review.py. Assessment owns the review because that is
where clinicians, triage and tasks live: the accept gate and the triage it opens are one
case change here, so no path reaches the triage queue or the waitlist (scheduling starts on
``assessment.triaged``) without acceptance:

- ``referral.submitted`` for a hospital that reviews creates the case ``awaiting_review``
  with no triage version and no ``assessment.triaged`` — but a school risk flag escalates
  at once, exactly as an accepted case's would (``assessment.escalated`` → task, HZ-02).
  A redelivery finds revision 1 taken and does nothing.
- ``referral.amended`` under review updates the picture (and escalates a new risk flag) but
  never triages; on a case returned to the school it is the resubmission: a new review
  round. On a rejected or redirected case it does nothing.
- every review round is an ``assessment.review_requested``, which assessment consumes to
  make a ``referral_review`` task due at the review deadline (HZ-14).
- a clinician's decision is one case change carrying ``assessment.review_decided`` (and, on
  accept, the first triage version with ``assessment.triaged``), then completes the task.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from services.assessment import events as ev
from services.assessment import intake
from services.assessment.domain import review as rules
from services.assessment.domain import versions
from services.assessment.domain.escalation import Escalation, escalate
from services.assessment.domain.rules import RuleTable
from services.assessment.domain.triage import latest_bands, new_reasons, triage
from services.assessment.repository import Change
from shared.events import Event


class ReviewRefused(RuntimeError):
    """The case cannot be decided now (not awaiting review, or returned to the school): 409."""


class DecisionIncomplete(ValueError):
    """The decision lacks (or misnames) its reason, information needed or redirect target: 422."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


class NotYourHospital(PermissionError):
    """The clinician is not scoped to the reviewing hospital: 404, as for no such case."""


def due(
    now: datetime, hours: float, escalation: Escalation | None, earlier: datetime | None = None
) -> datetime:
    """The review deadline: ``hours`` from now, sooner when a risk escalation's contact is due first."""
    candidates = [now + timedelta(hours=hours)]
    if escalation is not None:
        candidates.append(escalation.contact_deadline)
    if earlier is not None:
        candidates.append(earlier)
    return min(candidates)


def round_doc(hospital: str | None, number: int, due_at: datetime, iso: Callable[[datetime], str]) -> dict:
    return {"hospital_id": hospital, "round": number, "due_at": iso(due_at)}


def awaiting(
    case_id: str,
    referral: Mapping[str, Any],
    hospital: str | None,
    rule_table: RuleTable,
    now: datetime,
    hours: float,
    iso: Callable[[datetime], str],
    escalation_doc: Callable[[Escalation, str], dict[str, Any]],
) -> tuple[dict[str, Any], list[Event]]:
    """A new case held for review: no triage version, its risks escalated as for any case."""
    result = triage(intake.facts(referral), rule_table, now.date())
    escalation = escalate(result.risk_reasons, rule_table, now)
    review = round_doc(hospital, 1, due(now, hours, escalation), iso)
    emitted: list[Event] = []
    if escalation:
        emitted.append(ev.escalated(case_id, escalation, _hospitals(referral)))
    emitted.append(ev.review_requested(case_id, review, escalation is not None))
    doc = {
        "_id": case_id,
        "status": rules.AWAITING_REVIEW,
        "referral": referral,
        "referred_on": referral["referred_on"],
        "triage": [],
        "escalations": [escalation_doc(escalation, "referral.submitted")] if escalation else [],
        "escalated_reasons": list(result.risk_reasons),
        "escalated": escalation is not None,
        "administrations": [],
        "attendance": {},
        "relapses": [],
        "review": review,
        "review_decisions": [],
        **listed(hospital, due(now, hours, escalation)),
    }
    return doc, emitted


def listed(hospital: str | None, due_at: datetime) -> dict[str, Any]:
    """Top-level copies for the review worklist and the overdue count (FerretDB 1.x serves only
    top-level equality from an index: ``status`` + ``review_hospital``, ``status`` + ``review_due_at``)."""
    return {"review_hospital": hospital or rules.DEFAULT, "review_due_at": due_at}


def amended(
    doc: Mapping[str, Any],
    referral: Mapping[str, Any],
    rule_table: RuleTable,
    now: datetime,
    hours: float,
    iso: Callable[[datetime], str],
    escalation_doc: Callable[[Escalation, str], dict[str, Any]],
) -> Change | None:
    """An amendment to a case not yet accepted: new picture, new risks escalated, no triage.

    On a case returned to the school it is the resubmission: back to ``awaiting_review`` as
    the next round (a new task). The referral date stays the original one (keeps its place).
    """
    if doc["status"] in rules.CLOSED_BY_REVIEW:
        return None
    result = triage(intake.facts(referral), rule_table, now.date())
    fresh = new_reasons(result.risk_reasons, doc.get("escalated_reasons", []))
    escalation = escalate(fresh, rule_table, now)
    reasons = [*doc.get("escalated_reasons", []), *fresh]
    fields: dict[str, Any] = {
        "referral": {**referral, "referred_on": doc["referred_on"]},
        "escalated": bool(reasons),
        "escalated_reasons": reasons,
    }
    push: dict[str, list[Any]] = {}
    emitted: list[Event] = []
    if escalation:
        push["escalations"] = [escalation_doc(escalation, "referral.amended")]
        emitted.append(ev.escalated(doc["_id"], escalation, _hospitals(referral)))
    if doc["status"] == rules.RETURNED:
        previous = doc["review"]
        due_at = due(now, hours, escalation)
        review = round_doc(previous["hospital_id"], previous["round"] + 1, due_at, iso)
        fields.update(status=rules.AWAITING_REVIEW, review=review, **listed(previous["hospital_id"], due_at))
        emitted.append(ev.review_requested(doc["_id"], review, bool(reasons)))
    return Change(fields, push, emitted)


def decide(
    doc: Mapping[str, Any],
    decision: str,
    by: str,
    details: Mapping[str, Any],
    rule_table: RuleTable,
    now: datetime,
    iso: Callable[[datetime], str],
    escalation_doc: Callable[[Escalation, str], dict[str, Any]],
    summary: Callable[[Mapping[str, Any]], dict[str, Any]],
) -> Change:
    """The clinician's decision as one change; on accept, the first triage version with it."""
    if problem := rules.state_error(doc["status"]):
        raise ReviewRefused(problem)
    needed = list(details.get("information_needed") or [])
    if field := rules.field_error(decision, details.get("reason"), needed, details.get("redirect_to")):
        raise DecisionIncomplete(field)
    at = iso(now)
    record = {
        "outcome": rules.DECIDED[decision],
        "at": at,
        "by": by,
        "round": doc["review"]["round"],
        "reason": details.get("reason") if decision == rules.REJECT else None,
        "information_needed": needed if decision == rules.RETURN else None,
        "redirect_to": details.get("redirect_to") if decision == rules.REDIRECT else None,
        "note": details.get("note"),
    }
    fields: dict[str, Any] = {"status": rules.after(decision)}
    push: dict[str, list[Any]] = {"review_decisions": [record]}
    emitted: list[Event] = [ev.review_decided(doc["_id"], doc["review"], record)]
    if decision == rules.ACCEPT:
        bands = latest_bands(doc.get("administrations", []))
        result = triage(intake.facts(doc["referral"], bands), rule_table, now.date())
        audit = versions.Audit(at, by=by, trigger="review.accepted")
        version = versions.from_rules(1, result, audit)
        fresh = new_reasons(result.risk_reasons, doc.get("escalated_reasons", []))
        escalation = escalate(fresh, rule_table, now)
        if escalation:
            push["escalations"] = [escalation_doc(escalation, "review.accepted")]
            emitted.append(ev.escalated(doc["_id"], escalation, _hospitals(doc["referral"])))
        reasons = [*doc.get("escalated_reasons", []), *fresh]
        push["triage"] = [version]
        fields.update(summary(version), escalated=bool(reasons), escalated_reasons=reasons)
        if version.get("unrecognised_codes"):
            fields["needs_review"] = True
            review = {"reason": "unrecognised_codes", "codes": version["unrecognised_codes"], "at": at}
            push["reviews"] = [{**review, "triage_version": 1}]
        emitted.append(ev.triaged(doc["_id"], version, doc["referral"]))
    return Change(fields, push, emitted, {**record, "case_id": doc["_id"], "status": fields["status"]})


def _hospitals(referral: Mapping[str, Any]) -> list[str]:
    return list((referral.get("preferences") or {}).get("hospitals") or [])
