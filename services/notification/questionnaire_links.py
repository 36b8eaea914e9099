"""Where a guardian's questionnaire link comes from: the assessment service, asked at send time.

The sibling of :mod:`services.notification.offer_links`. The link carries the
invitation's secret token, so ``assessment.questionnaire_requested`` has no token and no
delivery document stores the link: the sender asks assessment's
``GET /v1/questionnaires/<invitation id>/link`` (service token) just before rendering.
404/410 (unknown, already answered, case withdrawn) withdraws the delivery; anything
else unsure is retried. :class:`MemoryQuestionnaireLinks` is the fake for tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol
from urllib.parse import quote

from services.notification.directory import DirectoryUnavailable
from services.notification.offer_links import fetch_link


class QuestionnaireLinksUnavailable(DirectoryUnavailable):
    """The assessment service did not answer; the delivery is retried later."""


class QuestionnaireLinks(Protocol):
    def questionnaire_url(self, invitation_id: str) -> str | None:
        """The guardian's questionnaire page, None if it can no longer be answered; raise if unsure."""


class HttpQuestionnaireLinks:
    def __init__(self, base_url: str, token: Callable[[], str], timeout_s: float = 5.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._timeout_s = timeout_s

    def questionnaire_url(self, invitation_id: str) -> str | None:
        url = f"{self._base_url}/v1/questionnaires/{quote(invitation_id, safe='')}/link"
        return fetch_link(url, self._token(), self._timeout_s, "assessment", QuestionnaireLinksUnavailable)


class MemoryQuestionnaireLinks:
    """Links held in a dict (invitation id → url); ``unavailable`` plays an assessment outage."""

    def __init__(self, links: Mapping[str, str] | None = None) -> None:
        self.links: dict[str, str] = dict(links or {})
        self.unavailable = False
        self.asked: list[str] = []

    def questionnaire_url(self, invitation_id: str) -> str | None:
        self.asked.append(invitation_id)
        if self.unavailable:
            raise QuestionnaireLinksUnavailable("memory questionnaire links switched off")
        return self.links.get(invitation_id)
