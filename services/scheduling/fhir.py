"""An appointment as a FHIR R4 Appointment: the booking in the form hospital systems already speak.

Pure mapping, no I/O (the route reads the appointment and its hospital). Scheduling holds
no personal data, so the patient is named only by the case identifier (the same system
referral's ServiceRequest uses), never by a name; the hospital is a ``Location``. The
booking states map onto Appointment.status: booked → ``booked``, attended → ``fulfilled``,
no_show → ``noshow``, cancelled → ``cancelled`` (with the reason, as ``cancelationReason``).
Kinds (intake, follow_up) and clinic types use the Waymark code systems under
CODE_SYSTEM_BASE (no standard code fits them).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.scheduling.repository import iso

CODE_SYSTEM_BASE = "https://waymark.example.org/fhir/CodeSystem"
CASE_ID_SYSTEM = "https://waymark.example.org/fhir/sid/case-id"
APPOINTMENT_ID_SYSTEM = "https://waymark.example.org/fhir/sid/appointment-id"
STATUS = {"booked": "booked", "attended": "fulfilled", "no_show": "noshow", "cancelled": "cancelled"}
"""Booking state → FHIR R4 Appointment.status (every state scheduling stores)."""
PARTICIPATION = {"cancelled": "declined"}
"""Appointment.participant.status per booking state: ``accepted`` unless the booking was cancelled."""


def _concept(system: str, code: str) -> dict[str, Any]:
    return {
        "coding": [{"system": f"{CODE_SYSTEM_BASE}/{system}", "code": code}],
        "text": code.replace("_", " "),
    }


def _instant(value: datetime | str) -> str:
    return value if isinstance(value, str) else iso(value)


def appointment(appt: Mapping[str, Any], hospital_name: str | None) -> dict[str, Any]:
    """The Appointment resource (a plain dict, JSON-ready) for one stored appointment."""
    taking_part = PARTICIPATION.get(appt["state"], "accepted")
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": appt["_id"],
        "identifier": [{"system": APPOINTMENT_ID_SYSTEM, "value": appt["_id"]}],
        "status": STATUS[appt["state"]],
        "serviceType": [_concept("clinic-type", appt["clinic_type"])],
        "appointmentType": _concept("appointment-kind", appt["kind"]),
        "basedOn": [
            {"type": "ServiceRequest", "identifier": {"system": CASE_ID_SYSTEM, "value": appt["case_id"]}}
        ],
        "start": _instant(appt["start"]),
        "end": _instant(appt["end"]),
        "participant": [
            {
                "actor": {
                    "type": "Patient",
                    "identifier": {"system": CASE_ID_SYSTEM, "value": appt["case_id"]},
                    "display": "the child referred (case identifier only)",
                },
                "required": "required",
                "status": taking_part,
            },
            {
                "actor": {
                    "reference": f"Location/{appt['hospital_id']}",
                    "display": hospital_name or appt["hospital_id"],
                },
                "required": "required",
                "status": taking_part,
            },
        ],
    }
    if appt.get("created_at") is not None:
        resource["created"] = _instant(appt["created_at"])
    if appt["state"] == "cancelled" and appt.get("reason"):
        resource["cancelationReason"] = _concept("cancellation-reason", appt["reason"])
    return resource
