"""The school's free text, for clinicians only: decrypted per request, every read logged (HZ-07).

A school's ``note`` and ``school_actions.details`` are what it saw in its own words; they
are encrypted at rest and never leave on the bus. A clinician (staff token, role
``clinician``) reads them here; the read is written to ``access_log`` (who, role, what,
when, which case) **before** the text is returned, so a note is never shown unlogged.
A clinician scoped to hospitals sees a case only through a hospital the family named,
or any hospital when a guardian consented to ``share_with_hospitals`` (HZ-13); otherwise
404, as for a case that does not exist. Operators read a case's access log.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask_smorest import Blueprint, abort
from pymongo import DESCENDING

from services.referral.deps import Deps
from services.referral.domain.checks import SHARE
from services.referral.domain.vocabulary import ID_PATTERN
from services.referral.responses import AccessLogSchema, SchoolNoteSchema
from shared.auth import Principal, require_staff
from shared.store import Index

ACCESS_LOG = "access_log"
INDEXES = {ACCESS_LOG: [Index([("case_id", 1), ("at", DESCENDING)], name="case_recent")]}
LOG_PAGE = 100


def may_see(principal: Principal, referral: Mapping[str, Any]) -> bool:
    if "*" in principal.hospitals:
        return True
    if any(SHARE in (g.get("consent") or {}).get("scope", ()) for g in referral.get("guardians") or []):
        return bool(principal.hospitals)
    named = (referral.get("preferences") or {}).get("hospitals") or []
    return any(principal.can_act_for(h) for h in named)


def log_access(deps: Deps, principal: Principal, case_id: str, what: str, at: datetime) -> None:
    deps.db[ACCESS_LOG].insert_one(
        {"case_id": case_id, "who": principal.subject, "role": principal.role, "what": what, "at": at}
    )


def clinical_blueprint(deps: Deps) -> Blueprint:
    blp = Blueprint(
        "clinical",
        __name__,
        url_prefix="/clinical/v1",
        description="Clinicians' view of a school's free text.",
    )

    def case_for(case_id: str) -> dict[str, Any]:
        case = deps.cases.get(case_id) if re.match(ID_PATTERN, case_id) else None
        if case is None:
            abort(404, message="No such case.")
        return case

    @blp.get("/cases/<case_id>/school-note")
    @blp.response(200, SchoolNoteSchema)
    def school_note(case_id: str) -> dict[str, Any]:
        """The school's note and actions in its own words, decrypted; the read is access-logged."""
        principal = require_staff(deps.staff_tokens, "clinician")
        case = case_for(case_id)
        referral = deps.cipher.unseal(case["referral"])
        if not may_see(principal, referral):
            abort(404, message="No such case.")
        now = deps.clock()
        log_access(deps, principal, case_id, "school_note", now)
        return {
            "case_id": case_id,
            "note": referral.get("note"),
            "school_actions_details": (referral.get("school_actions") or {}).get("details"),
            "read_at": now.isoformat(),
        }

    @blp.get("/cases/<case_id>/access-log")
    @blp.response(200, AccessLogSchema)
    def access_log(case_id: str) -> dict[str, Any]:
        """Who read this case's clinical free text, newest first (the latest 100)."""
        require_staff(deps.staff_tokens, "operator")
        found = (
            deps.db[ACCESS_LOG].find({"case_id": case_id}, {"_id": 0}).sort("at", DESCENDING).limit(LOG_PAGE)
        )
        return {"case_id": case_id, "items": [{**e, "at": e["at"].isoformat()} for e in found]}

    return blp
