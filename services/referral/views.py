"""A stored case as the school sees it: decrypted for its own school, timeline in event order."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.referral.cases import iso
from services.referral.crypto import FieldCipher
from services.referral.domain import school_view


def _when(value: Any) -> str | None:
    return iso(value) if isinstance(value, datetime) else value


def summary(case: Mapping[str, Any], cipher: FieldCipher) -> dict[str, Any]:
    name = case["referral"]["student"]["name"]
    return {
        "case_id": case["_id"],
        "status": case["status"],
        "student_name": cipher.decrypt(name),
        "referred_on": case["referred_on"],
        "submitted_at": _when(case["submitted_at"]),
        "updated_at": _when(case["updated_at"]),
    }


def full(case: Mapping[str, Any], cipher: FieldCipher) -> dict[str, Any]:
    withdrawal = dict(case["withdrawal"]) if case.get("withdrawal") else None
    if withdrawal and withdrawal.get("note"):
        withdrawal["note"] = cipher.decrypt(withdrawal["note"])
    attendance = [
        {"week_start": week, **report} for week, report in sorted(case.get("attendance", {}).items())
    ]
    for report in attendance:
        report.pop("by", None)
    referral = cipher.unseal(case["referral"])
    timeline = sorted(case.get("timeline", []), key=lambda e: e["at"])
    return {
        **summary(case, cipher),
        "school_status": school_view.coarse_status(case["status"]),
        "referral": referral,
        # HZ-13: coarse statuses only, never a band or a re-triage; liaison detail with consent
        "timeline": school_view.school_timeline(
            timeline, school_view.liaison_consented(referral.get("guardians") or [])
        ),
        "attendance": attendance,
        "linked_referrals": len(case.get("linked_referrals", [])),
        "withdrawal": withdrawal,
    }


def contacts(case: Mapping[str, Any], school: Mapping[str, Any] | None, cipher: FieldCipher) -> dict:
    """What the notification service needs to reach the family and the school, decrypted.

    ``consent.email`` / ``consent.sms`` say whether the guardian agreed to that channel
    (scope ``contact_by_email`` / ``contact_by_sms``); the notification service sends nothing else.
    """
    referral = cipher.unseal(case["referral"])
    webhook = (school or {}).get("webhook") or {}
    return {
        "case_id": case["_id"],
        "status": case["status"],
        "language": (referral.get("preferences") or {}).get("language"),
        "guardians": [_guardian(g) for g in referral["guardians"]],
        "school": {
            "school_id": case["school_id"],
            "webhook_url": webhook.get("url"),
            "webhook_secret": cipher.decrypt(webhook["secret"]) if webhook else None,
        },
    }


def _guardian(guardian: Mapping[str, Any]) -> dict[str, Any]:
    scope = guardian["consent"]["scope"]
    return {
        "relationship": guardian["relationship"],
        "name": guardian.get("name"),
        "phone": guardian.get("phone"),
        "email": guardian.get("email"),
        "language": guardian["language"],
        "consent": {
            **guardian["consent"],
            "email": "contact_by_email" in scope,
            "sms": "contact_by_sms" in scope,
        },
    }
