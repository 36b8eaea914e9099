"""Consumed events → the use cases that handle them (the service's subscription table).

Handlers are idempotent: a first triage is keyed by the case id, every later change is
applied once per event (shared.inbox.once) in the same update as its effect.
"""

from __future__ import annotations

import logging

from services.assessment.casework import Casework
from services.assessment.followup import FollowUp
from services.assessment.questionnaires import Questionnaires
from services.assessment.repository import UnknownCase
from services.assessment.tasks import Tasks
from shared.consumer import Handler
from shared.events import Event

log = logging.getLogger(__name__)


def _ignoring_unknown(handle: Handler) -> Handler:
    """For events about cases we never triaged where doing nothing is right (withdrawal, attendance)."""

    def handler(event: Event) -> None:
        try:
            handle(event)
        except UnknownCase:
            log.info("event for a case assessment does not know; ignored", extra={"type": event.type})

    return handler


def _both(*handles: Handler) -> Handler:
    """Several idempotent reactions to one event, in order (a retry redoes only what is missing)."""

    def handler(event: Event) -> None:
        for handle in handles:
            handle(event)

    return handler


def build_handlers(
    casework: Casework, followup: FollowUp, questionnaires: Questionnaires, tasks: Tasks
) -> dict[str, Handler]:
    """Unknown cases on amendment or attendance raise: retried, then dead-lettered for replay.

    A booking is made only after assessment triaged the case, so a booking for an unknown
    case is not ours to question: no questionnaire, logged. Our own ``assessment.escalated``
    becomes a task (HZ-02): consuming it from the bus means the escalation's outbox
    guarantees the task, and a case we cannot find yet is retried, then dead-lettered — never
    dropped. A no-show of an escalated or P1 child becomes a safeguarding task (HZ-10).
    """

    def note_hospital(event: Event) -> None:
        prefs = (event.data.get("preferences") or {}).get("hospitals") or []
        tasks.note_hospital(prefs[0] if prefs else None)

    def note_booking(event: Event) -> None:
        tasks.note_hospital(event.data.get("hospital_id"))

    return {
        "referral.submitted": _both(note_hospital, casework.submitted),
        "referral.amended": casework.amended,
        "referral.withdrawn": _ignoring_unknown(_both(casework.withdrawn, tasks.withdrawn)),
        "attendance.reported": followup.attendance,
        "appointment.attended": _ignoring_unknown(casework.attended),
        "appointment.booked": _ignoring_unknown(_both(note_booking, casework.booked, questionnaires.booked)),
        "appointment.cancelled": _ignoring_unknown(casework.booking_cancelled),
        "appointment.no_show": _ignoring_unknown(tasks.no_show),
        "assessment.escalated": tasks.escalated,
        "assessment.review_requested": tasks.review_requested,
    }
