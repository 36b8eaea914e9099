"""A case's status and timeline, driven by other services' events.

Events from different producers arrive on different topics, so their order is not
guaranteed. Every event is recorded on the timeline (sorted by its own time on read),
but the status only moves *forward* along the pathway, except for the few events that
legitimately send a case back (a cancelled or missed intake returns it to the waitlist).
Closed cases (withdrawn, discharged) never move again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SUBMITTED = "submitted"
AWAITING_REVIEW = "awaiting_review"
INFORMATION_REQUESTED = "information_requested"
REJECTED = "rejected"
REDIRECTED = "redirected"
TRIAGED = "triaged"
WAITLISTED = "waitlisted"
OFFERED = "offered"
BOOKED = "booked"
SEEN = "seen"
IN_FOLLOW_UP = "in_follow_up"
DISCHARGED = "discharged"
WITHDRAWN = "withdrawn"

STATUSES = (
    *(SUBMITTED, AWAITING_REVIEW, INFORMATION_REQUESTED),
    *(TRIAGED, WAITLISTED, OFFERED, BOOKED, SEEN, IN_FOLLOW_UP, DISCHARGED, WITHDRAWN, REJECTED, REDIRECTED),
)
CLOSED = frozenset({DISCHARGED, WITHDRAWN, REJECTED, REDIRECTED})
BEFORE_ACCEPTANCE = frozenset({SUBMITTED, AWAITING_REVIEW, INFORMATION_REQUESTED})
"""A hospital that reviews referrals (assessment's ASSESSMENT_REVIEW_HOSPITALS) holds a case
here until a clinician decides; a return to the school and its resubmission move it between
these two and back, never past acceptance."""
OPEN = tuple(s for s in STATUSES if s not in CLOSED)
_RANK = {status: rank for rank, status in enumerate(STATUSES)}
ATTENDANCE_REPORTABLE = frozenset({SEEN, IN_FOLLOW_UP})


@dataclass(frozen=True)
class Step:
    """What one consumed event does to a case: the status it asks for and the timeline entry."""

    status: str | None
    """Target status, or None when the event is a note only."""
    entry: dict[str, Any]
    backward: bool = False
    """True when the event may legitimately move the case back (to the waitlist)."""
    review: bool = False
    """True for referral review events (they act only before acceptance)."""


# Consumed event → (target status, timeline entry kind, data fields copied into the entry).
# Only non-identifying scheduling facts are copied: the school sees when and where.
_EVENTS: Mapping[str, tuple[str | None, str, tuple[str, ...]]] = {
    "assessment.triaged": (TRIAGED, "triaged", ("band", "target_days")),
    "waitlist.entry_added": (WAITLISTED, "waitlisted", ("target_date", "hospitals")),
    "waitlist.offer_made": (OFFERED, "offered", ("hospital_id", "slot_start", "hold_until", "kind")),
    "appointment.booked": (BOOKED, "booked", ("hospital_id", "start", "end", "kind")),
    "appointment.rescheduled": (BOOKED, "rescheduled", ("hospital_id", "start", "previous_start", "kind")),
    "appointment.cancelled": (
        WAITLISTED,
        "appointment_cancelled",
        ("hospital_id", "start", "reason", "kind"),
    ),
    "appointment.attended": (SEEN, "attended", ("hospital_id", "start", "kind")),
    "appointment.no_show": (WAITLISTED, "no_show", ("hospital_id", "start", "kind")),
    "returnplan.updated": (IN_FOLLOW_UP, "return_plan_updated", ()),
    "followup.relapse_detected": (None, "relapse_detected", ("weeks_below",)),
    "followup.discharged": (DISCHARGED, "discharged", ("reason",)),
    "assessment.review_requested": (AWAITING_REVIEW, "awaiting_review", ("round",)),
    # assessment.review_decided: the status and entry follow the outcome (_REVIEW_OUTCOMES)
    "assessment.review_decided": (None, "review_decided", ("round",)),
}
_REVIEW_OUTCOMES: Mapping[str, tuple[str | None, str]] = {
    "accepted": (None, "review_accepted"),  # assessment.triaged follows and moves the status
    "returned": (INFORMATION_REQUESTED, "information_requested"),
    "rejected": (REJECTED, "review_rejected"),
    "redirected": (REDIRECTED, "review_redirected"),
}
REVIEW_DETAIL = ("reason", "information_needed", "redirect_to")
"""Codes only (assessment keeps the clinician's note): what the school may be told."""
CONSUMED = tuple(_EVENTS)
_BACKWARD = frozenset({"appointment.cancelled", "appointment.no_show"})
_REVIEW = frozenset({"assessment.review_requested", "assessment.review_decided"})


def step_for(name: str, data: Mapping[str, Any], at: str) -> Step:
    target, kind, copied = _EVENTS[name]
    if name == "assessment.review_decided":
        target, kind = _REVIEW_OUTCOMES[data["outcome"]]
        copied = (*copied, *REVIEW_DETAIL)
    detail = {("appointment_kind" if k == "kind" else k): data.get(k) for k in copied}
    entry = timeline_entry(kind, at, **detail)
    if data.get("kind") == "follow_up" and target in (OFFERED, BOOKED, SEEN, WAITLISTED):
        target = None  # follow-up appointments are notes on a case already in follow-up
    return Step(target, entry, backward=name in _BACKWARD, review=name in _REVIEW)


def next_status(current: str, step: Step) -> str:
    """The status after ``step``: forward only, back to the waitlist only from before 'seen'.

    Review steps move a case only while it is not yet accepted (a resubmission takes it from
    ``information_requested`` back to ``awaiting_review``); they never move an accepted case.
    """
    if step.status is None or current in CLOSED:
        return current
    if step.review:
        return step.status if current in BEFORE_ACCEPTANCE else current
    if step.backward:
        return step.status if current in (OFFERED, BOOKED) else current
    if step.status == DISCHARGED:
        return DISCHARGED
    return step.status if _RANK[step.status] > _RANK[current] else current


def is_open(status: str) -> bool:
    return status not in CLOSED


def can_report_attendance(status: str) -> bool:
    return status in ATTENDANCE_REPORTABLE


def timeline_entry(kind: str, at: str, status: str | None = None, **detail: Any) -> dict[str, Any]:
    """One line of the timeline: what happened, when, the status after it, non-identifying detail."""
    return {
        "kind": kind,
        "at": at,
        "status": status,
        "detail": {k: v for k, v in detail.items() if v is not None},
    }
