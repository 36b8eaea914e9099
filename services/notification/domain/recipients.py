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


def targets(intent: Intent, contacts: Contacts | None, oncall: OnCall | None) -> list[Target]:
    found: dict[tuple[str, str], Target] = {}
    if intent.audience == GUARDIANS and contacts is not None:
        for guardian in contacts.guardians:
            if intent.needs_consent and intent.needs_consent not in guardian.scopes:
                continue  # e.g. a questionnaire only to the guardian who agreed to questionnaires
            for channel in intent.channels:
                address = guardian.address(channel)
                if address:
                    ref = reference(channel, address)
                    found[(channel, ref)] = Target(channel, ref, mask(channel, address), guardian.language)
    elif intent.audience == SCHOOL and contacts is not None and contacts.school is not None:
        school = contacts.school
        allowed = not intent.needs_consent or contacts.consented(intent.needs_consent)
        if allowed and school.webhook_url and school.webhook_secret:
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
    audience: str,
    channel: str,
    ref: str,
    contacts: Contacts | None,
    oncall: OnCall | None,
    needs_consent: str | None = None,
) -> Resolved | None:
    """The current address behind a stored reference, or None if it is gone or consent was withdrawn."""
    if needs_consent and audience == SCHOOL and (contacts is None or not contacts.consented(needs_consent)):
        return None
    if audience == GUARDIANS and contacts is not None:
        for guardian in contacts.guardians:
            if needs_consent and needs_consent not in guardian.scopes:
                continue
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
