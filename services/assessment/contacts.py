"""The family's contact details, fetched from referral for a clinician who holds a task on the case.

Assessment never stores them: referral's internal route is asked at read time with a
service token, and only the guardians' part goes back to the clinician (never the
school's webhook secret). The caller (services.assessment.tasks) logs the read first.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

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
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self._token()}"})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                return for_clinician(json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 410):
                return None
            raise ReferralUnavailable(f"referral answered {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ReferralUnavailable(f"referral unreachable: {type(exc).__name__}") from None
