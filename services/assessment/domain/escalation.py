"""Escalation: risk skips the queue and the hospital's on-call must make contact within hours.

The deadline is the tightest one among the reasons (e.g. suicidal talk 4 h, self-harm
24 h), taken from the rule table so that the network can change it without a deploy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.assessment.domain.rules import RuleTable


@dataclass(frozen=True)
class Escalation:
    reasons: tuple[str, ...]
    contact_within_hours: int
    contact_deadline: datetime


def escalate(reasons: Sequence[str], rules: RuleTable, now: datetime) -> Escalation | None:
    """The escalation for these reasons, or None when there is nothing to escalate."""
    unique = tuple(dict.fromkeys(reasons))
    if not unique:
        return None
    hours = min(rules.hours_for(r) for r in unique)
    return Escalation(unique, hours, now + timedelta(hours=hours))
