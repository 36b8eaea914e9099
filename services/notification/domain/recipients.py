"""Who receives an intent, decided from the contacts fetched at send time.

Planning (:func:`targets`) happens when the event arrives; resolution
(:func:`resolve`) happens again at every attempt, so a guardian who withdraws consent
or changes address between a deferral and the send is honoured.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.notification.config import OnCall
from services.notification.domain.contacts import Contacts, QuietHours, mask, reference
from services.notification.domain.intents import GUARDIANS, ONCALL, SCHOOL, Intent


@dataclass(frozen=True)
class Target:
    channel: str
    ref: str
    """Stored instead of the address: a hash for people, ``school:<id>`` for schools."""
    masked: str
    language: str


@dataclass(frozen=True)
class Resolved:
    address: str
    language: str
    quiet_hours: QuietHours | None = None
    secret: str | None = None


LIAISON_STATUSES = frozenset({"no_show", "followup_needed"})
"""School statuses that tell the school how the child's care is going (HZ-10): consent-gated."""


def targets(intent: Intent, contacts: Contacts | None, oncall: OnCall | None) -> list[Target]:
    found: dict[tuple[str, str], Target] = {}
    if intent.audience == GUARDIANS and contacts is not None:
        for guardian in contacts.guardians:
            for channel in intent.channels:
                address = guardian.address(channel)
                if address:
                    ref = reference(channel, address)
                    found[(channel, ref)] = Target(channel, ref, mask(channel, address), guardian.language)
    elif intent.audience == SCHOOL and contacts is not None and contacts.school is not None:
        if intent.context.get("status") in LIAISON_STATUSES and not contacts.school_liaison:
            return []  # attendance news about the child needs the guardians' school_liaison consent
        school = contacts.school
        if school.webhook_url and school.webhook_secret:
            ref = f"school:{school.school_id}"
            found[("webhook", ref)] = Target("webhook", ref, mask("webhook", school.webhook_url), "en")
    elif intent.audience == ONCALL and oncall is not None:
        for channel in intent.channels:
            address = oncall.email if channel == "email" else oncall.phone if channel == "sms" else None
            if address:
                ref = reference(channel, address)
                found[(channel, ref)] = Target(channel, ref, mask(channel, address), oncall.language)
    return list(found.values())


def resolve(
    audience: str, channel: str, ref: str, contacts: Contacts | None, oncall: OnCall | None
) -> Resolved | None:
    """The current address behind a stored reference, or None if it is gone or consent was withdrawn."""
    if audience == GUARDIANS and contacts is not None:
        for guardian in contacts.guardians:
            address = guardian.address(channel)
            if address and reference(channel, address) == ref:
                return Resolved(address, guardian.language, guardian.quiet_hours)
    if audience == SCHOOL and contacts is not None and contacts.school is not None:
        school = contacts.school
        if ref == f"school:{school.school_id}" and school.webhook_url and school.webhook_secret:
            return Resolved(school.webhook_url, "en", secret=school.webhook_secret)
    if audience == ONCALL and oncall is not None:
        address = oncall.email if channel == "email" else oncall.phone if channel == "sms" else None
        if address and reference(channel, address) == ref:
            return Resolved(address, oncall.language)
    return None
