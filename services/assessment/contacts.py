"""The family's contact details, fetched from referral for a clinician who holds a task on the case.

Assessment never stores them: referral's internal route is asked at read time with a
service token, and only the guardians' part goes back to the clinician (never the
school's webhook secret). The caller (services.assessment.tasks) logs the read first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from shared.service_calls import get_json

GUARDIAN_FIELDS = ("relationship", "name", "phone", "email", "language")


class ReferralUnavailable(RuntimeError):
    """Referral did not answer (or answered an error other than not-found)."""


def for_clinician(found: Mapping[str, Any]) -> dict[str, Any]:
    """The guardians' names, phones, e-mails and languages; nothing of the school's."""
    return {
        "case_id": found["case_id"],
        "language": found.get("language"),
        "guardians": [{k: g.get(k) for k in GUARDIAN_FIELDS} for g in found.get("guardians", [])],
    }


class ReferralContacts:
    def __init__(self, base_url: str, token: Callable[[], str], timeout_s: float = 5.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._timeout_s = timeout_s

    def __call__(self, case_id: str) -> dict[str, Any] | None:
        url = f"{self._base_url}/internal/v1/cases/{quote(case_id, safe='')}/contacts"
        found = get_json(url, self._token(), self._timeout_s, "referral", ReferralUnavailable)
        return None if found is None else for_clinician(found)
