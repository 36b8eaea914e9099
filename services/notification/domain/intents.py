"""Which messages an event causes: the one table of the service's behaviour.

Each consumed event becomes zero or more :class:`Intent` s — "tell the guardians that
an appointment was booked", "tell the school the case is triaged" — carrying only
non-identifying facts from the event (ids, times, codes). Who exactly receives them is
decided later from the contacts fetched at send time (:mod:`.recipients`). An offer's
answer link is a secret (it carries the offer token): it is neither in the event nor in
an intent, but fetched from scheduling at send time (:mod:`services.notification.offer_links`);
so is a questionnaire link, from assessment (:mod:`services.notification.questionnaire_links`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

GUARDIANS, SCHOOL, ONCALL = "guardians", "school", "oncall"
PERSON_CHANNELS = ("email", "sms")
SCHOOL_STATUS = {
    # HZ-13: the school hears coarse statuses only (received, accepted, appointment booked,
    # attended, discharged). Never a (re-)triage: a band change after a questionnaire would
    # tell the school what the child disclosed.
    "waitlist.entry_added": "accepted",
    "appointment.booked": "appointment_booked",
    "appointment.attended": "attended",
}
REVIEW_STATUS = {
    # A referral review decision answers the school's own referral (codes only, HZ-13).
    "accepted": "referral_accepted",
    "returned": "information_requested",
    "rejected": "not_accepted",
    "redirected": "redirected",
}
REVIEW_FACTS = ("reason", "information_needed", "redirect_to")
SCHOOL_LIAISON = "school_liaison"
LIAISON_STATUS = {
    # Only when a guardian consented to school liaison: the appointment's time (so the school
    # can release the child), a missed intake and the family needing a call.
    "appointment.rescheduled": "appointment_booked",
    "appointment.no_show": "no_show",
    "waitlist.followup_needed": "followup_needed",
}
QUESTIONNAIRES = "questionnaires"
GUARDIAN_TEMPLATE = {
    "referral.submitted": "referral_received",
    "waitlist.offer_made": "offer_made",
    "appointment.booked": "appointment_booked",
    "appointment.rescheduled": "appointment_moved",
    "appointment.cancelled": "appointment_cancelled",
    "appointment.no_show": "appointment_missed",
    "assessment.questionnaire_requested": "questionnaire",
}
APPOINTMENT_FACTS = ("appointment_id", "hospital_id", "start", "end", "kind", "previous_start")
OFFER_FACTS = ("offer_id", "hospital_id", "slot_start", "slot_end", "kind", "hold_until")
# Not the instruments: which questionnaires a child gets says something clinical.
QUESTIONNAIRE_FACTS = ("invitation_id", "due_by")


@dataclass(frozen=True)
class Intent:
    template: str
    audience: str
    case_id: str
    context: Mapping[str, Any] = field(default_factory=dict)
    urgent: bool = False
    """Urgent messages ignore quiet hours (escalations)."""
    hospital_id: str | None = None
    channels: tuple[str, ...] = PERSON_CHANNELS
    oncall_key: str | None = None
    """The on-call person (a staff id in NOTIFICATION_ONCALL) when the message is for one person."""
    needs_consent: str | None = None
    """A consent scope the recipient needs (HZ-13): guardians who gave it; a school if any guardian did."""
    liaison_context: Mapping[str, Any] = field(default_factory=dict)
    """Added to a school's message only when a guardian consented to school liaison."""


def _pick(data: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: data[k] for k in keys if data.get(k) is not None}


def intents_for(name: str, data: Mapping[str, Any]) -> list[Intent]:
    """The messages that event ``name`` with payload ``data`` causes (possibly none)."""
    case_id = str(data.get("case_id", ""))
    found: list[Intent] = []
    if name in GUARDIAN_TEMPLATE:
        context = _pick(data, APPOINTMENT_FACTS) if name.startswith("appointment.") else {}
        if name == "waitlist.offer_made":
            context = _pick(data, OFFER_FACTS)
        if name == "assessment.questionnaire_requested":
            context = _pick(data, QUESTIONNAIRE_FACTS)
        hospital = data.get("hospital_id")
        consent = QUESTIONNAIRES if name == "assessment.questionnaire_requested" else None
        found.append(
            Intent(
                GUARDIAN_TEMPLATE[name],
                GUARDIANS,
                case_id,
                context,
                hospital_id=hospital,
                needs_consent=consent,
            )
        )
    if name in SCHOOL_STATUS and data.get("kind", "intake") == "intake":  # follow-ups: liaison detail
        liaison = _pick(data, ("start",))
        context = {"status": SCHOOL_STATUS[name]}
        found.append(
            Intent("case_status", SCHOOL, case_id, context, channels=("webhook",), liaison_context=liaison)
        )
    if name == "assessment.review_decided" and data.get("outcome") in REVIEW_STATUS:
        context = {"status": REVIEW_STATUS[data["outcome"]], **_pick(data, REVIEW_FACTS)}
        found.append(Intent("case_status", SCHOOL, case_id, context, channels=("webhook",)))
    if name == "advice.answered":  # the school reads the answer itself (GET /v1/advice/<id>)
        context = {"status": "advice_answered", "advice_id": data.get("advice_id")}
        found.append(
            Intent("case_status", SCHOOL, str(data.get("advice_id", "")), context, channels=("webhook",))
        )
    if name in LIAISON_STATUS:
        context = {"status": LIAISON_STATUS[name], **_pick(data, ("start",))}
        found.append(
            Intent(
                "case_status", SCHOOL, case_id, context, channels=("webhook",), needs_consent=SCHOOL_LIAISON
            )
        )
    if name == "assessment.task_alert":
        # An escalation alerts ONE person: the task's owner (re-alert too) or, on a breach, the
        # second line — not every preferred hospital (HZ-02). assessment.escalated itself sends
        # nothing; its task's alert does. An unowned task falls back to the hospital's on-call.
        context = {"stage": data["stage"], "contact_deadline": data["due_at"], "task_id": data["task_id"]}
        recipient = data.get("recipient")
        found.append(
            Intent(
                "task_alert",
                ONCALL,
                case_id,
                context,
                urgent=True,
                hospital_id=data.get("hospital_id"),
                oncall_key=None if recipient in (None, "unowned") else recipient,
            )
        )
    if name in ("followup.relapse_detected", "waitlist.followup_needed"):
        hospital = data.get("hospital_id")
        found.append(
            Intent("followup_review", ONCALL, case_id, {}, hospital_id=hospital, channels=("email",))
        )
    if name == "waitlist.pressure_changed" and data.get("level") == "critical":
        facts = _pick(data, ("hospital_id", "band", "waiting", "capacity", "predicted_wait_days"))
        hospital = data.get("hospital_id")
        found.append(Intent("capacity_alert", ONCALL, "", facts, hospital_id=hospital, channels=("email",)))
    return found


def reminder_intent(reminder: Mapping[str, Any]) -> Intent:
    """The guardian message of a due reminder (stored by :mod:`services.notification.reminders`)."""
    context = {**_pick(reminder, APPOINTMENT_FACTS), "days_before": reminder["days_before"]}
    return Intent(
        "appointment_reminder",
        GUARDIANS,
        reminder["case_id"],
        context,
        hospital_id=reminder.get("hospital_id"),
    )
