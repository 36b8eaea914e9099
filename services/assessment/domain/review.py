"""Referral review before acceptance, as rules: who reviews, the decisions and their codes.

A hospital configured for review (``ASSESSMENT_REVIEW_HOSPITALS``) holds a new referral in
``awaiting_review`` until one of its clinicians decides. Every other hospital accepts
automatically (the default), which is the pathway as it was. The *reviewing* hospital is
the one that holds the case (services/assessment/domain/tasks.py ``holding_hospital``): the
first hospital the family preferred, else the network default (key ``default``).

Decisions: **accept** (triage starts: the only way into the triage queue and onto the
waitlist), **reject** with a reason from :data:`REJECT_REASONS`, **return** to the school
asking for the information in :data:`INFORMATION_NEEDED` (the school amends through the
referral API; the amendment is the resubmission and puts the case back under review), or
**redirect** to a service in :data:`REDIRECT_TO`. Only codes travel on the bus and reach the
school; a clinician's free-text note stays in assessment's clinical record.

Waiting clock: the case keeps its original referral date (``referred_on``) through every
return and resubmission, so it keeps its place in the fair order (first-come within
priority) and its breach date is counted from the first referral — the time the school takes
to answer counts as waiting. A rejected or redirected case is closed.
"""

from __future__ import annotations

from collections.abc import Iterable

AWAITING_REVIEW, RETURNED = "awaiting_review", "returned_for_information"
REJECTED, REDIRECTED = "rejected", "redirected"
REVIEW_STATES = frozenset({AWAITING_REVIEW, RETURNED})
"""Case states before acceptance: no triage, not in the queue, nothing on the waitlist."""
CLOSED_BY_REVIEW = frozenset({REJECTED, REDIRECTED})
NOT_ACCEPTED = REVIEW_STATES | CLOSED_BY_REVIEW
"""States with no triage: nothing may triage, override or plan such a case."""

ACCEPT, REJECT, RETURN, REDIRECT = "accept", "reject", "return", "redirect"
DECISIONS = (ACCEPT, REJECT, RETURN, REDIRECT)
DECIDED = {ACCEPT: "accepted", REJECT: "rejected", RETURN: "returned", REDIRECT: "redirected"}
"""The decision as published on ``assessment.review_decided`` (``outcome``)."""

REJECT_REASONS = (
    "criteria_not_met",
    "outside_catchment",
    "duplicate_referral",
    "consent_missing",
    "better_met_by_school_support",
)
INFORMATION_NEEDED = (
    "absence_details",
    "school_actions_taken",
    "attendance_record",
    "risk_details",
    "guardian_consent",
    "other",
)
REDIRECT_TO = (
    "emergency_services",
    "community_mental_health",
    "paediatrics",
    "social_care",
    "educational_psychology",
    "other_service",
)
ALL_HOSPITALS = "*"
DEFAULT = "default"


def reviews(configured: Iterable[str], hospital: str | None) -> bool:
    """Does the hospital holding a new case review it before acceptance?

    ``configured`` is ``ASSESSMENT_REVIEW_HOSPITALS``: hospital ids, ``default`` for cases
    naming no hospital, ``*`` for every hospital. Empty (the default): auto-accept everywhere.
    """
    names = set(configured)
    return ALL_HOSPITALS in names or (hospital or DEFAULT) in names


def state_error(state: str) -> str | None:
    """Why a case in ``state`` cannot be decided now (None if it can).

    Only a case awaiting review is decided: a case returned to the school waits for the
    school's resubmission (a decision then would race the school's answer).
    """
    if state == RETURNED:
        return "the case was returned to the school and awaits its resubmission"
    if state != AWAITING_REVIEW:
        return "the case is not awaiting review"
    return None


def field_error(decision: str, reason: str | None, needed: list[str], target: str | None) -> str | None:
    """The request field a decision is missing or gets wrong (None when complete)."""
    if decision == REJECT and reason not in REJECT_REASONS:
        return "reason"
    if decision == RETURN and (not needed or any(c not in INFORMATION_NEEDED for c in needed)):
        return "information_needed"
    if decision == REDIRECT and target not in REDIRECT_TO:
        return "redirect_to"
    return None


def after(decision: str) -> str:
    """The case state a decision leaves (accept: the triage's ``active``)."""
    return {ACCEPT: "active", REJECT: REJECTED, RETURN: RETURNED, REDIRECT: REDIRECTED}[decision]
