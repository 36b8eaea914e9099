"""The contact picture the referral service hands out at send time, as value objects.

Contacts are personal data: the notification service keeps them in memory only for
the send, never in its database or on the bus. What it stores is a one-way reference
(:func:`reference`) that finds the same address again on the next attempt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LANGUAGES = ("en", "zh-CN")


@dataclass(frozen=True)
class QuietHours:
    start: str  # "21:00"
    end: str  # "08:00"
    tz: str  # IANA zone, e.g. "Asia/Shanghai"


@dataclass(frozen=True)
class Guardian:
    relationship: str
    email: str | None
    phone: str | None
    language: str = "en"
    consent_email: bool = False
    consent_sms: bool = False
    quiet_hours: QuietHours | None = None
    scopes: frozenset[str] = frozenset()
    """Every consent scope the guardian gave (``questionnaires``, ``school_liaison``, ...)."""

    def address(self, channel: str) -> str | None:
        """The address for ``channel`` if the guardian has one and consented to it."""
        if channel == "email" and self.consent_email:
            return self.email or None
        if channel == "sms" and self.consent_sms:
            return self.phone or None
        return None


@dataclass(frozen=True)
class School:
    school_id: str
    webhook_url: str | None = None
    webhook_secret: str | None = None


@dataclass(frozen=True)
class Contacts:
    case_id: str
    guardians: tuple[Guardian, ...] = ()
    school: School | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def consented(self, scope: str) -> bool:
        """Whether any guardian gave this consent scope (as referral asks one guardian to consent)."""
        return any(scope in g.scopes for g in self.guardians)

    @property
    def school_liaison(self) -> bool:
        """Some guardian allowed the clinic to liaise with the school (consent scope ``school_liaison``)."""
        return self.consented("school_liaison")


def reference(channel: str, address: str) -> str:
    """A stable, non-reversible name for an address, safe to store in the delivery log."""
    return hashlib.sha256(f"{channel}:{address.strip().lower()}".encode()).hexdigest()[:24]


def mask(channel: str, address: str) -> str:
    """Enough of an address for an operator to tell recipients apart, not to contact them."""
    if channel == "email" and "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    if channel == "sms":
        return f"***{address[-4:]}"
    if channel == "webhook":
        return address.split("?", 1)[0]
    return "***"


def from_json(doc: Mapping[str, Any]) -> Contacts:
    """Parse the referral service's ``/internal/v1/cases/<id>/contacts`` answer."""
    guardians = []
    for g in doc.get("guardians") or []:
        consent = g.get("consent") or {}
        quiet = g.get("quiet_hours")
        language = g.get("language") if g.get("language") in LANGUAGES else "en"
        guardians.append(
            Guardian(
                relationship=str(g.get("relationship", "guardian")),
                email=g.get("email"),
                phone=g.get("phone"),
                language=language,
                consent_email=bool(consent.get("email")),
                consent_sms=bool(consent.get("sms")),
                quiet_hours=QuietHours(quiet["start"], quiet["end"], quiet["tz"]) if quiet else None,
                scopes=frozenset(map(str, consent.get("scope") or ())),
            )
        )
    school_doc = doc.get("school")
    school = None
    if school_doc and school_doc.get("school_id"):
        school = School(
            str(school_doc["school_id"]), school_doc.get("webhook_url"), school_doc.get("webhook_secret")
        )
    return Contacts(str(doc.get("case_id", "")), tuple(guardians), school)
