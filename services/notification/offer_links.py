"""Where a guardian's offer answer link comes from: the scheduling service, asked at send time.

The link carries the offer's secret token, so it never travels on the bus
(``waitlist.offer_made`` has no token) and is never stored in a delivery document:
the sender asks scheduling's ``GET /v1/offers/<id>/link`` (service token) just before
rendering, exactly as contacts are fetched from referral. :class:`OfferLinks` is the
seam: :class:`HttpOfferLinks` calls scheduling; :class:`MemoryOfferLinks` is the fake
for tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol
from urllib.parse import quote

from services.notification.directory import DirectoryUnavailable
from shared.service_calls import get_json


class OfferLinksUnavailable(DirectoryUnavailable):
    """The scheduling service did not answer; the delivery is retried later."""


class OfferLinks(Protocol):
    def answer_url(self, offer_id: str) -> str | None:
        """The guardian's accept-or-decline page, None if the offer is unknown; raise if unsure."""


class HttpOfferLinks:
    def __init__(self, base_url: str, token: Callable[[], str], timeout_s: float = 5.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._timeout_s = timeout_s

    def answer_url(self, offer_id: str) -> str | None:
        url = f"{self._base_url}/v1/offers/{quote(offer_id, safe='')}/link"
        return fetch_link(url, self._token(), self._timeout_s, "scheduling", OfferLinksUnavailable)


def fetch_link(
    url: str, token: str, timeout_s: float, owner: str, unavailable: type[DirectoryUnavailable]
) -> str | None:
    """GET a ``{"url": ...}`` link from its owning service: None on 404/410, ``unavailable`` if unsure."""
    answer = get_json(url, token, timeout_s, owner, unavailable)
    if answer is None:
        return None
    link = answer.get("url") if isinstance(answer, dict) else None
    if not isinstance(link, str) or not link:
        raise unavailable(f"{owner} answered without a url")
    return link


class MemoryOfferLinks:
    """Answer links held in a dict (offer id → url); ``unavailable`` plays a scheduling outage."""

    def __init__(self, links: Mapping[str, str] | None = None) -> None:
        self.links: dict[str, str] = dict(links or {})
        self.unavailable = False
        self.asked: list[str] = []

    def answer_url(self, offer_id: str) -> str | None:
        self.asked.append(offer_id)
        if self.unavailable:
            raise OfferLinksUnavailable("memory offer links switched off")
        return self.links.get(offer_id)
