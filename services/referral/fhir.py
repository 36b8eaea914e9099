"""A case as a FHIR R4 ServiceRequest: the referral in the form hospital systems already speak.

ServiceRequest is the referral, the child a contained Patient, the school a contained
Organization (the research's "ServiceRequest = the referral" rule). Concerns, risk flags
and school actions use Waymark code systems published under CODE_SYSTEM_BASE; the status
maps onto request status (active, revoked, completed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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


def _concept(system: str, code: str) -> dict[str, Any]:
    return {
        "coding": [{"system": f"{CODE_SYSTEM_BASE}/{system}", "code": code}],
        "text": code.replace("_", " "),
    }


def service_request(case: Mapping[str, Any], referral: Mapping[str, Any], school_name: str | None) -> dict:
    """The ServiceRequest resource (a plain dict, JSON-ready) for one case and its decrypted referral."""
    student = referral["student"]
    risk = [flag for flag, present in referral["risk_indicators"].items() if present]
    patient = {
        "resourceType": "Patient",
        "id": "child",
        "name": [{"text": student["name"]}],
        "birthDate": student["date_of_birth"],
        "gender": _GENDER[student["sex"]],
    }
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
