"""A case as FHIR R4: the referral (ServiceRequest) and its episode of care (EpisodeOfCare).

The forms hospital systems already speak. Pure mapping, no I/O: the routes read the case.
ServiceRequest is the referral, the child a contained Patient, the school a contained
Organization (the research's "ServiceRequest = the referral" rule). Concerns, risk flags
and school actions use Waymark code systems published under CODE_SYSTEM_BASE; the status
maps onto request status (active, revoked, completed). EpisodeOfCare is the case from
referral to discharge: its status follows the case status (EPISODE_STATUS), its period runs
from submission to the close (discharge or withdrawal), its statusHistory is read from the
case's timeline, and it names the ServiceRequest (same id) as its ``referralRequest``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.referral.domain import status as st

CODE_SYSTEM_BASE = "https://waymark.example.org/fhir/CodeSystem"
CASE_ID_SYSTEM = "https://waymark.example.org/fhir/sid/case-id"
SCHOOL_ID_SYSTEM = "https://waymark.example.org/fhir/sid/school-id"
_STATUS = {
    "withdrawn": "revoked",
    "discharged": "completed",
    # referral review: returned to the school for information, or not accepted / sent elsewhere
    "information_requested": "on-hold",
    "rejected": "revoked",
    "redirected": "revoked",
}
_GENDER = {"female": "female", "male": "male", "other": "other", "not_stated": "unknown"}
EPISODE_STATUS = {
    st.SUBMITTED: "planned",
    st.AWAITING_REVIEW: "planned",
    st.INFORMATION_REQUESTED: "onhold",
    st.TRIAGED: "planned",
    st.WAITLISTED: "waitlist",
    st.OFFERED: "waitlist",
    st.BOOKED: "waitlist",
    st.SEEN: "active",
    st.IN_FOLLOW_UP: "active",
    st.DISCHARGED: "finished",
    st.WITHDRAWN: "cancelled",
    st.REJECTED: "cancelled",
    st.REDIRECTED: "cancelled",
}
"""Case status → FHIR R4 EpisodeOfCare.status: referred, awaiting review and triaged is
``planned``; returned to the school for information is ``onhold``; waiting, offered or booked
for the intake is ``waitlist``; seen and in follow-up is ``active``; discharged is
``finished``; a withdrawn, rejected or redirected referral is ``cancelled`` (the episode never
ran here)."""


def _concept(system: str, code: str) -> dict[str, Any]:
    return {
        "coding": [{"system": f"{CODE_SYSTEM_BASE}/{system}", "code": code}],
        "text": code.replace("_", " "),
    }


def service_request(case: Mapping[str, Any], referral: Mapping[str, Any], school_name: str | None) -> dict:
    """The ServiceRequest resource (a plain dict, JSON-ready) for one case and its decrypted referral."""
    risk = [flag for flag, present in referral["risk_indicators"].items() if present]
    patient = _patient(referral["student"])
    school = {
        "resourceType": "Organization",
        "id": "school",
        "identifier": [{"system": SCHOOL_ID_SYSTEM, "value": case["school_id"]}],
        "name": school_name or case["school_id"],
    }
    notes = [{"text": f"Risk indicators reported by the school: {', '.join(risk)}."}] if risk else []
    if referral.get("note"):
        notes.append({"text": referral["note"]})
    absence = referral["absence"]
    notes.append(
        {
            "text": f"Current absence since {absence['start']}; missed {absence['days_missed_last_20']} "
            f"and partly missed {absence['partial_days_last_20']} of the last 20 school days."
        }
    )
    return {
        "resourceType": "ServiceRequest",
        "id": case["_id"],
        "contained": [patient, school],
        "identifier": [{"system": CASE_ID_SYSTEM, "value": case["_id"]}],
        "status": _STATUS.get(case["status"], "active"),
        "intent": "order",
        "category": [_concept("referral-category", "school_refusal")],
        "priority": "urgent" if risk else "routine",
        "code": {"text": "Referral to a school-refusal clinic (child and adolescent mental health)"},
        "subject": {"reference": "#child"},
        "authoredOn": case["submitted_at"].isoformat(),
        "requester": {"reference": "#school"},
        "reasonCode": [_concept("presenting-concern", c) for c in referral["concerns"]],
        "note": notes,
    }


def _patient(student: Mapping[str, Any]) -> dict[str, Any]:
    """The child as a contained Patient (the school's own data: both exports go to that school only)."""
    return {
        "resourceType": "Patient",
        "id": "child",
        "name": [{"text": student["name"]}],
        "birthDate": student["date_of_birth"],
        "gender": _GENDER[student["sex"]],
    }


def _moment(value: datetime | str) -> datetime:
    """Timeline times are ISO strings (``Z`` or an offset), the case's own are datetimes."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value.replace("Z", "+00:00"))


def _instant(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _episode_status(case_status: str) -> str:
    return EPISODE_STATUS.get(case_status, "planned")  # a status added later is before the intake


def episode_of_care(case: Mapping[str, Any], referral: Mapping[str, Any]) -> dict[str, Any]:
    """The EpisodeOfCare resource (a plain dict, JSON-ready) for one case and its decrypted referral.

    The history is the timeline as it was applied (append order), each change of the
    episode's status starting a period; the current status is ``status``, not history.
    """
    started = _moment(case["submitted_at"])
    changes: list[tuple[str, datetime]] = []  # (episode status, since), one per change
    for entry in case.get("timeline", []):
        if not entry.get("status"):
            continue
        status = _episode_status(entry["status"])
        if changes and changes[-1][0] == status:
            continue
        since = max(_moment(entry["at"]), changes[-1][1]) if changes else started
        changes.append((status, since))
    current = _episode_status(case["status"])
    period: dict[str, str] = {"start": _instant(started)}
    if case["status"] in st.CLOSED:
        closed = [e["at"] for e in case.get("timeline", []) if e.get("status") in st.CLOSED]
        period["end"] = _instant(_moment(closed[0] if closed else case["updated_at"]))
    history = [
        {"status": status, "period": {"start": _instant(since), "end": _instant(changes[n + 1][1])}}
        for n, (status, since) in enumerate(changes[:-1])
    ]
    resource: dict[str, Any] = {
        "resourceType": "EpisodeOfCare",
        "id": case["_id"],
        "contained": [_patient(referral["student"])],
        "identifier": [{"system": CASE_ID_SYSTEM, "value": case["_id"]}],
        "status": current,
        "type": [_concept("episode-type", "school_refusal")],
        "patient": {"reference": "#child"},
        "period": period,
        "referralRequest": [{"reference": f"ServiceRequest/{case['_id']}"}],
    }
    if history:
        resource["statusHistory"] = history
    return resource
