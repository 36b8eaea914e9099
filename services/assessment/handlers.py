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


def build_handlers(
    casework: Casework, followup: FollowUp, questionnaires: Questionnaires
) -> dict[str, Handler]:
    """Unknown cases on amendment or attendance raise: retried, then dead-lettered for replay.

    A booking is made only after assessment triaged the case, so a booking for an unknown
    case is not ours to question: no questionnaire, logged.
    """
    return {
        "referral.submitted": casework.submitted,
        "referral.amended": casework.amended,
        "referral.withdrawn": _ignoring_unknown(casework.withdrawn),
        "attendance.reported": followup.attendance,
        "appointment.attended": _ignoring_unknown(casework.attended),
        "appointment.booked": _ignoring_unknown(questionnaires.booked),
    }
