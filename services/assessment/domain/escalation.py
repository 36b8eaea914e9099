"""Escalation: risk skips the queue and the hospital's on-call must make contact within hours.

Each escalation also names what the contact must do (``action``): an ASQ acute positive
needs an emergency evaluation now (1 h), a non-acute ASQ positive a brief safety
assessment (24 h), a declined PHQ-A item 9 a safety follow-up (24 h).

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
    action: str = "contact_family"


def escalate(reasons: Sequence[str], rules: RuleTable, now: datetime) -> Escalation | None:
    """The escalation for these reasons, or None when there is nothing to escalate."""
    unique = tuple(dict.fromkeys(reasons))
    if not unique:
        return None
    tightest = min(unique, key=rules.hours_for)  # the first of the most urgent reasons sets the action
    hours = rules.hours_for(tightest)
    return Escalation(unique, hours, now + timedelta(hours=hours), rules.action_for(tightest))
