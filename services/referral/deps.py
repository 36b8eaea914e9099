"""Everything the HTTP layer needs, built once by bootstrap and handed to the blueprint factories."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pymongo.database import Database

from services.referral.advising import AdviceBook
from services.referral.callers import CallerCache
from services.referral.cases import Referrals
from services.referral.crypto import FieldCipher
from services.referral.ratelimit import RateLimiter
from services.referral.repository import Cases
from shared.auth import StaffTokens


@dataclass(frozen=True)
class Deps:
    db: Database
    cases: Cases
    referrals: Referrals
    cipher: FieldCipher
    limiter: RateLimiter
    callers: CallerCache
    staff_tokens: StaffTokens
    clock: Callable[[], datetime]
    advice: AdviceBook | None = None
    """Advice without referring (services/referral/advising.py)."""
    allow_http_webhooks: bool = False
    allow_loopback_webhooks: bool = False
