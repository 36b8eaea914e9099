"""Escalation tasks as rules: who owns one, its states, its outcomes, its duties, its FHIR form.

An escalation (``assessment.escalated``) or an escalated child's no-show becomes a task
with ONE owner: the on-call clinician of the hospital that *holds* the case. A case is
held by the hospital of its booking, else by the first hospital the family preferred,
else by the network's default on-call (key ``default``). The task follows FHIR Task
semantics: ``requested`` → ``acknowledged`` (the owner has seen it and is acting) →
``completed`` (with an outcome from a fixed list). Its due time is the escalation's
contact deadline. Two duties watch it: a re-alert to the owner at half the time to the
deadline when nobody acknowledged it, and a second-line alert when the deadline passes
before it is completed.

The state is never stored as a mutable field that writers race on: each transition
(and each alert) is a claim inserted under ``<task id>:<kind>`` (FerretDB's only atomic
operation), and :func:`fold` derives state and next duty from the claims. The task
document is a read model of that fold (for the owner's list and the duty sweep).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

REQUESTED, ACKNOWLEDGED, COMPLETED = "requested", "acknowledged", "completed"
STATES = (REQUESTED, ACKNOWLEDGED, COMPLETED)
REALERT, BREACH = "realert", "breach"
NO_DUTY = "none"
"""``duty`` of a task with nothing left to watch (completed, or its breach already raised)."""
ESCALATION_CONTACT, SAFEGUARDING_CONTACT = "escalation_contact", "safeguarding_contact"
REFERRAL_REVIEW = "referral_review"
"""A referral awaiting review past nobody's eyes (HZ-14): completed by the review decision."""
OUTCOMES = (
    "family_reached_safety_plan_made",
    "sent_to_emergency_department",
    "emergency_services_called",
    "safeguarding_referral_made",
    "family_reached_no_acute_risk",
    "unable_to_reach",
)
"""The fixed list of what the contact achieved (FHIR ``Task.statusReason``-like, coded)."""
UNOWNED = "unowned"
"""The owner of a task whose hospital has no on-call recipient: visible, alerted, never dropped."""


def holding_hospital(booked_hospital: str | None, preferred: Iterable[str]) -> str | None:
    """The hospital that holds a case: its booking's, else the first preferred, else None (default)."""
    if booked_hospital:
        return booked_hospital
    return next(iter(preferred), None)


@dataclass(frozen=True)
class Duty:
    kind: str
    at: datetime | None


def realert_at(created: datetime, due: datetime, fraction: float) -> datetime:
    """Half-way (by default) from creation to the deadline."""
    return created + (due - created) * fraction


def fold(task: Mapping[str, Any], claims: Iterable[Mapping[str, Any]], fraction: float) -> dict[str, Any]:
    """State, outcome, history and next duty of ``task`` from its claims (any order, any repeats)."""
    by_kind = {c["kind"]: c for c in claims}
    state = REQUESTED
    if ACKNOWLEDGED in by_kind:
        state = ACKNOWLEDGED
    if COMPLETED in by_kind:
        state = COMPLETED
    created, due = task["created_at"], task["due_at"]
    if state == COMPLETED or BREACH in by_kind:
        duty = Duty(NO_DUTY, None)
    elif state == REQUESTED and REALERT not in by_kind:
        duty = Duty(REALERT, realert_at(created, due, fraction))
    else:
        duty = Duty(BREACH, due)
    history = sorted(
        (
            {k: c[k] for k in ("kind", "at", "by", "outcome", "note", "recipient") if c.get(k) is not None}
            for c in by_kind.values()
        ),
        key=lambda h: h["at"],
    )
    completed = by_kind.get(COMPLETED) or {}
    folded: dict[str, Any] = {}
    if task["owner"] == UNOWNED and ACKNOWLEDGED in by_kind:
        folded["owner"] = by_kind[ACKNOWLEDGED]["by"]  # a clinician took the unowned task on
    return folded | {
        "state": state,
        "outcome": completed.get("outcome"),
        "duty": duty.kind,
        "duty_at": duty.at,
        "history": history,
    }


def may_act(owner: str, by: str, wanted: str) -> bool:
    """Only the owner works a task; anyone with the clinician role may take on an unowned one."""
    return owner == by or (owner == UNOWNED and wanted == ACKNOWLEDGED)


def transition_error(state: str, wanted: str) -> str | None:
    """Why ``wanted`` cannot follow ``state`` (None when it can): requested → acknowledged → completed."""
    if wanted == ACKNOWLEDGED and state != REQUESTED:
        return f"the task is already {state}"
    if wanted == COMPLETED and state == COMPLETED:
        return "the task is already completed"
    return None


FHIR_STATUS = {REQUESTED: "requested", ACKNOWLEDGED: "accepted", COMPLETED: "completed"}
"""FHIR R4 Task.status: our *acknowledged* is FHIR's ``accepted`` (the owner took it on)."""
FHIR_CODES = "https://waymark.invalid/fhir/CodeSystem/"


def _instant(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def to_fhir(task: Mapping[str, Any]) -> dict[str, Any]:
    """The task as a FHIR R4 ``Task`` resource (JSON); the case is the ``focus``, never the child's name."""
    resource: dict[str, Any] = {
        "resourceType": "Task",
        "id": task["_id"],
        "status": FHIR_STATUS[task["state"]],
        "intent": "order",
        "priority": "stat" if task.get("contact_within_hours", 24) <= 1 else "urgent",
        "code": {
            "coding": [{"system": FHIR_CODES + "task-kind", "code": task["kind"]}],
            "text": task.get("action") or task["kind"],
        },
        "description": f"{task['kind']}: {task.get('action') or 'contact the family'}",
        "focus": {"reference": f"Case/{task['case_id']}"},
        "for": {"reference": f"Case/{task['case_id']}"},
        "authoredOn": _instant(task["created_at"]),
        "lastModified": _instant(task.get("updated_at") or task["created_at"]),
        "owner": {"reference": f"Practitioner/{task['owner']}"},
        "location": {"reference": f"Location/{task['hospital_id'] or 'default'}"},
        "restriction": {"period": {"end": _instant(task["due_at"])}},
        "reasonCode": {
            "coding": [{"system": FHIR_CODES + "escalation-reason", "code": r} for r in task["reasons"]]
        },
    }
    if task.get("outcome"):
        resource["output"] = [
            {
                "type": {"text": "outcome"},
                "valueCodeableConcept": {
                    "coding": [{"system": FHIR_CODES + "task-outcome", "code": task["outcome"]}]
                },
            }
        ]
    return resource
