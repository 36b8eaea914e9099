"""What the referring school may see of a case's progress: coarse statuses only (HZ-13).

The stored timeline records every event (band, target, relapse, no-show, ...) for the
service's own audit; a school sees a projection of it. A re-triage can follow from what
a child disclosed on a questionnaire, so the school never sees a band, a re-triage, a
relapse or a return plan: only **received, accepted, appointment booked, attended,
discharged** (and withdrawn), each the first time the case reaches it, never a step back
(a second "accepted" would reveal a missed appointment). The school's own actions
(amendments, withdrawal, a linked duplicate) stay. With a guardian's ``school_liaison``
consent the school also sees the appointment's hospital and time (to release the child)
and a missed or cancelled appointment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

RECEIVED, ACCEPTED, APPOINTMENT_BOOKED, ATTENDED, DISCHARGED, WITHDRAWN = (
    "received",
    "accepted",
    "appointment_booked",
    "attended",
    "discharged",
    "withdrawn",
)
INFORMATION_REQUESTED, NOT_ACCEPTED, REDIRECTED = "information_requested", "not_accepted", "redirected"
COARSE = {
    "submitted": RECEIVED,
    "awaiting_review": RECEIVED,
    "information_requested": INFORMATION_REQUESTED,
    "rejected": NOT_ACCEPTED,
    "redirected": REDIRECTED,
    "triaged": ACCEPTED,
    "waitlisted": ACCEPTED,
    "offered": ACCEPTED,
    "booked": APPOINTMENT_BOOKED,
    "seen": ATTENDED,
    "in_follow_up": ATTENDED,
    "discharged": DISCHARGED,
    "withdrawn": WITHDRAWN,
}
_RANK = {s: n for n, s in enumerate((RECEIVED, ACCEPTED, APPOINTMENT_BOOKED, ATTENDED, DISCHARGED))}
REVIEW_KINDS = {
    # Review decisions answer the school's own referral, made on what the school sent (before
    # any contact with the family), so the school hears them — as codes, never a note (HZ-13).
    "information_requested": INFORMATION_REQUESTED,
    "review_rejected": NOT_ACCEPTED,
    "review_redirected": REDIRECTED,
}
REVIEW_DETAIL = ("reason", "information_needed", "redirect_to")
SCHOOLS_OWN = frozenset({"amended", "withdrawn", "duplicate_referral_linked"})
LIAISON_KINDS = {"no_show": "no_show", "appointment_cancelled": "appointment_cancelled"}
LIAISON_DETAIL = ("hospital_id", "start")
SCHOOL_LIAISON = "school_liaison"


def coarse_status(status: str) -> str:
    return COARSE.get(status, ACCEPTED)


def liaison_consented(guardians: Iterable[Mapping[str, Any]]) -> bool:
    return any(SCHOOL_LIAISON in (g.get("consent") or {}).get("scope", ()) for g in guardians)


def school_timeline(timeline: Iterable[Mapping[str, Any]], liaison: bool) -> list[dict[str, Any]]:
    """The stored timeline (sorted by time) as the school may see it."""
    shown: list[dict[str, Any]] = []
    reached = -1
    for entry in timeline:
        kind = entry["kind"]
        if kind == "submitted":
            shown.append({"kind": RECEIVED, "at": entry["at"], "status": RECEIVED, "detail": {}})
            reached = max(reached, _RANK[RECEIVED])
        elif kind in REVIEW_KINDS:
            detail = {k: entry["detail"][k] for k in REVIEW_DETAIL if k in entry.get("detail", {})}
            shown.append(
                {
                    "kind": REVIEW_KINDS[kind],
                    "at": entry["at"],
                    "status": REVIEW_KINDS[kind],
                    "detail": detail,
                }
            )
        elif kind == "review_accepted":
            shown.append({"kind": ACCEPTED, "at": entry["at"], "status": ACCEPTED, "detail": {}})
            reached = max(reached, _RANK[ACCEPTED])
        elif kind in SCHOOLS_OWN:
            status = coarse_status(entry["status"]) if entry.get("status") else None
            shown.append({**entry, "status": status})
        elif liaison and kind in LIAISON_KINDS:
            detail = {k: entry["detail"][k] for k in LIAISON_DETAIL if k in entry.get("detail", {})}
            shown.append({"kind": LIAISON_KINDS[kind], "at": entry["at"], "status": None, "detail": detail})
        else:
            status = coarse_status(entry["status"]) if entry.get("status") else None
            is_booking = status == APPOINTMENT_BOOKED and kind in ("booked", "rescheduled")
            forward = status in _RANK and _RANK[status] > reached
            if forward or (liaison and is_booking and reached == _RANK[APPOINTMENT_BOOKED]):
                detail = {}
                if liaison and is_booking:
                    detail = {k: entry["detail"][k] for k in LIAISON_DETAIL if k in entry.get("detail", {})}
                shown.append({"kind": status, "at": entry["at"], "status": status, "detail": detail})
                reached = max(reached, _RANK[status])
    return shown
