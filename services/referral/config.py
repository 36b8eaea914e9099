"""The referral service's own configuration, read from ``settings.extra`` (REFERRAL_*).

Only :mod:`shared.settings` reads the environment; this module interprets the
service-specific keys it collected, with defaults that are safe on a laptop. The data and
blind-index keys are read by :meth:`services.referral.crypto.FieldCipher.from_settings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from shared.settings import Settings

PREFIX = "REFERRAL_"


@dataclass(frozen=True)
class ReferralConfig:
    rate_limit_per_minute: int = 120
    """Requests per API key per minute across the API (each worker allows its share)."""
    api_workers: int = 1
    """Processes serving the API (Settings.api_workers): the rate limit is divided among them."""
    key_cache_s: float = 30.0
    """How long a worker trusts an API-key lookup; a revoked key stops working within it."""
    idempotency_window: timedelta = timedelta(hours=24)
    """How long an Idempotency-Key is remembered; its record is pruned after that."""
    max_body_bytes: int = 64 * 1024
    allow_http_webhooks: bool = False
    allow_loopback_webhooks: bool = False
    """Accept webhook URLs on loopback (127.0.0.0/8, ::1, localhost): tests and the e2e receiver only."""

    @classmethod
    def from_settings(cls, settings: Settings) -> ReferralConfig:
        env = {k.removeprefix(PREFIX): v for k, v in settings.extra.items() if k.startswith(PREFIX)}
        defaults = cls()
        return cls(
            rate_limit_per_minute=int(env.get("RATE_LIMIT_PER_MINUTE", defaults.rate_limit_per_minute)),
            api_workers=settings.api_workers,
            key_cache_s=float(env.get("KEY_CACHE_S", defaults.key_cache_s)),
            idempotency_window=timedelta(
                hours=float(env.get("IDEMPOTENCY_HOURS", defaults.idempotency_window / timedelta(hours=1)))
            ),
            max_body_bytes=int(env.get("MAX_BODY_BYTES", defaults.max_body_bytes)),
            allow_http_webhooks=env.get("ALLOW_HTTP_WEBHOOKS", "1" if settings.embedded else "0") == "1",
            allow_loopback_webhooks=env.get("ALLOW_LOOPBACK_WEBHOOKS", "0") == "1",
        )
