"""Where guardian and school contacts come from: the referral service, asked at send time.

:class:`ContactDirectory` is the seam: :class:`HttpContactDirectory` calls referral's
internal API with a service token, in the stack and embedded alike (so a misconfigured
referral URL shows up as retries, never as messages to invented guardians);
:class:`MemoryContactDirectory` is the fake for tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Protocol
from urllib.parse import quote

from services.notification.domain.contacts import Contacts, Guardian, School, from_json
from shared.consumer import DependencyUnavailable
from shared.service_calls import get_json

log = logging.getLogger(__name__)


class DirectoryUnavailable(DependencyUnavailable):
    """The referral service did not answer: senders retry later, consumers retry the event."""


class ContactDirectory(Protocol):
    def contacts(self, case_id: str) -> Contacts | None:
        """The case's contacts, None if the case is unknown; raise DirectoryUnavailable if unsure."""


class HttpContactDirectory:
    def __init__(self, base_url: str, token: Callable[[], str], timeout_s: float = 5.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._timeout_s = timeout_s

    def contacts(self, case_id: str) -> Contacts | None:
        url = f"{self._base_url}/internal/v1/cases/{quote(case_id, safe='')}/contacts"
        found = get_json(url, self._token(), self._timeout_s, "referral", DirectoryUnavailable)
        return None if found is None else from_json(found)


class MemoryContactDirectory:
    """Contacts held in a dict; ``default`` answers for unknown cases (embedded demo)."""

    def __init__(
        self, cases: Mapping[str, Contacts] | None = None, default: Callable[[str], Contacts] | None = None
    ) -> None:
        self.cases: dict[str, Contacts] = dict(cases or {})
        self._default = default
        self.unavailable = False

    def contacts(self, case_id: str) -> Contacts | None:
        if self.unavailable:
            raise DirectoryUnavailable("memory directory switched off")
        found = self.cases.get(case_id)
        if found is None and self._default is not None:
            return self._default(case_id)
        return found


def demo_contacts(case_id: str) -> Contacts:
    """A consenting guardian on reserved .invalid / fictional addresses (a default for test directories)."""
    guardian = Guardian("parent", "guardian@example.invalid", "+8613800000000", "zh-CN", True, True)
    return Contacts(case_id, (guardian,), School("demo-school"))
