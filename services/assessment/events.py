"""The events this service publishes, built in one place and checked against shared/contracts.

A payload that does not match the published contract raises here, before anything is
written, so a bug can never put a malformed event into the outbox.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any

from services.assessment.domain.escalation import Escalation
from shared.contracts.registry import check
from shared.events import Event, event_type

SOURCE = "/services/assessment"


def _event(name: str, case_id: str, data: dict[str, Any]) -> Event:
    check(name, data)
    return Event(event_type(name), SOURCE, subject=case_id, data=data)


def triaged(case_id: str, record: Mapping[str, Any], referral: Mapping[str, Any]) -> Event:
    prefs = referral.get("preferences") or {}
    return _event(
        "assessment.triaged",
        case_id,
        {
            "case_id": case_id,
            "triage_version": record["version"],
            "band": record["band"],
            "score": record["score"],
            "target_days": record["target_days"],
            "referred_on": referral["referred_on"],
            "rule_version": record["rule_version"],
            "factors": [{"code": f["code"], "points": f["points"]} for f in record["factors"]],
            "clinic_type": record["clinic_type"],
            "school_intervention": record["school_intervention"],
            "overridden": record["overridden"],
            "constraints": {
                "hospitals": list(prefs.get("hospitals") or []),
                "max_travel_km": prefs.get("max_travel_km"),
                "home_district": prefs.get("home_district"),
                "weekdays": list(prefs.get("weekdays") or []),
                "language": prefs.get("language"),
            },
        },
    )


def escalated(case_id: str, escalation: Escalation, hospitals: Sequence[str]) -> Event:
    return _event(
        "assessment.escalated",
        case_id,
        {
            "case_id": case_id,
            "reasons": list(escalation.reasons),
            "contact_deadline": escalation.contact_deadline.isoformat(),
            "contact_within_hours": escalation.contact_within_hours,
            "action": escalation.action,
            "hospitals": list(hospitals),
        },
    )


def completed(case_id: str, administration: Mapping[str, Any]) -> Event:
    return _event(
        "assessment.completed",
        case_id,
        {
            "case_id": case_id,
            "instrument": administration["instrument"],
            "instrument_version": administration["instrument_version"],
            "administration": administration["n"],
            "scores": dict(administration["scores"]),
            "flags": list(administration["flags"]),
            "informant": administration["informant"],
            "bands": dict(administration["bands"]),
        },
    )


def plan_updated(case_id: str, weeks: Sequence[Mapping[str, Any]]) -> Event:
    data = {"case_id": case_id, "weeks": [dict(w) for w in weeks]}
    return _event("returnplan.updated", case_id, data)


def relapse_detected(case_id: str, weeks_below: Sequence[str]) -> Event:
    return _event(
        "followup.relapse_detected", case_id, {"case_id": case_id, "weeks_below": list(weeks_below)}
    )


def questionnaire_requested(
    case_id: str, invitation_id: str, instruments: Sequence[str], due_by: str
) -> Event:
    """No token and no link: the link is fetched from assessment's API at send time."""
    data = {
        "case_id": case_id,
        "invitation_id": invitation_id,
        "instruments": list(instruments),
        "due_by": due_by,
    }
    return _event("assessment.questionnaire_requested", case_id, data)


def task_alert(task: Mapping[str, Any], stage: str, recipient: str, tier: str) -> Event:
    """A task needs ``recipient`` now; ids and codes only (no name, no contact details)."""
    due = task["due_at"]
    data = {
        "task_id": task["_id"],
        "case_id": task["case_id"],
        "kind": task["kind"],
        "stage": stage,
        "tier": tier,
        "recipient": recipient,
        "hospital_id": task["hospital_id"],
        "due_at": (due if due.tzinfo else due.replace(tzinfo=UTC)).isoformat(),
        "action": task["action"],
    }
    return _event("assessment.task_alert", task["case_id"], data)


def review_requested(case_id: str, review: Mapping[str, Any], risk_flagged: bool) -> Event:
    return _event(
        "assessment.review_requested",
        case_id,
        {
            "case_id": case_id,
            "hospital_id": review["hospital_id"],
            "round": review["round"],
            "due_at": review["due_at"],
            "risk_flagged": risk_flagged,
        },
    )


def review_decided(case_id: str, review: Mapping[str, Any], decision: Mapping[str, Any]) -> Event:
    data: dict[str, Any] = {
        "case_id": case_id,
        "hospital_id": review["hospital_id"],
        "round": review["round"],
        "outcome": decision["outcome"],
        "decided_at": decision["at"],
    }
    for key in ("reason", "information_needed", "redirect_to"):
        if decision.get(key):
            data[key] = decision[key]
    return _event("assessment.review_decided", case_id, data)
