"""Consumed events → waitlist operations. Each handler is idempotent (waitlist.py, relapse.py)."""

from __future__ import annotations

from collections.abc import Callable

from services.scheduling import expedite, relapse, waitlist
from services.scheduling.context import Scheduling
from shared import topics
from shared.events import Event

CONSUMES = [topics.events("assessment"), topics.events("referral")]


def handlers(ctx: Scheduling) -> dict[str, Callable[[Event], None]]:
    return {
        "assessment.triaged": lambda e: waitlist.on_triaged(ctx, e),
        "assessment.escalated": lambda e: expedite.on_escalated(ctx, e),
        "referral.withdrawn": lambda e: waitlist.on_withdrawn(ctx, e),
        "assessment.review_decided": lambda e: waitlist.on_review_decided(ctx, e),
        "followup.relapse_detected": lambda e: relapse.on_relapse(ctx, e),
    }
