"""The notification service's own configuration, read from ``settings.extra`` (NOTIFICATION_*).

Only :mod:`shared.settings` reads the environment; this module interprets the
service-specific keys it collected, with defaults that are safe on a laptop.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.settings import Settings

PREFIX = "NOTIFICATION_"
DEFAULT_ONCALL_KEY = "default"


@dataclass(frozen=True)
class OnCall:
    email: str | None = None
    phone: str | None = None
    language: str = "en"


@dataclass(frozen=True)
class NotificationConfig:
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_sender: str = "Waymark <no-reply@waymark.invalid>"
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    email_transport: str = "smtp"
    """``smtp`` or ``log`` (embedded default without an SMTP relay)."""
    sms_provider: str = "log"
    referral_url: str = "http://127.0.0.1:8001"
    scheduling_url: str = "http://127.0.0.1:8003"
    """Scheduling's API, asked for each offer's answer link at send time."""
    assessment_url: str = "http://127.0.0.1:8002"
    """Assessment's API, asked for each questionnaire link at send time."""
    default_tz: str = "Asia/Shanghai"
    max_attempts: int = 5
    retry_base_s: float = 30.0
    retry_max_s: float = 3600.0
    lease_s: float = 120.0
    http_timeout_s: float = 5.0
    allow_loopback_webhooks: bool = False
    """Deliver webhooks to loopback addresses (tests and the e2e receiver only); never private ones."""
    scheduler_interval_s: float = 5.0
    reminder_days: tuple[int, ...] = (3, 1)
    oncall: Mapping[str, OnCall] = field(default_factory=dict)

    def oncall_for(self, hospital_id: str | None, person: str | None = None) -> OnCall | None:
        """The person's contact (a staff id key), else the hospital's on-call, else the network default."""
        return (
            self.oncall.get(person or "")
            or self.oncall.get(hospital_id or "")
            or self.oncall.get(DEFAULT_ONCALL_KEY)
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> NotificationConfig:
        env = {k.removeprefix(PREFIX): v for k, v in settings.extra.items() if k.startswith(PREFIX)}
        defaults = cls()
        return cls(
            smtp_host=env.get("SMTP_HOST", defaults.smtp_host),
            smtp_port=int(env.get("SMTP_PORT", defaults.smtp_port)),
            smtp_sender=env.get("SMTP_SENDER", defaults.smtp_sender),
            smtp_user=env.get("SMTP_USER", ""),
            smtp_password=env.get("SMTP_PASSWORD", ""),
            smtp_starttls=env.get("SMTP_STARTTLS", "false").lower() in ("1", "true", "yes"),
            email_transport=env.get(
                "EMAIL_TRANSPORT", "log" if settings.embedded and "SMTP_HOST" not in env else "smtp"
            ),
            sms_provider=env.get("SMS_PROVIDER", defaults.sms_provider),
            referral_url=env.get("REFERRAL_URL", _local_url("referral")).rstrip("/"),
            scheduling_url=(
                env.get("SCHEDULING_URL") or env.get("SCHEDULING_PUBLIC_URL") or _local_url("scheduling")
            ).rstrip("/"),
            assessment_url=env.get("ASSESSMENT_URL", _local_url("assessment")).rstrip("/"),
            default_tz=env.get("DEFAULT_TZ", defaults.default_tz),
            max_attempts=int(env.get("MAX_ATTEMPTS", defaults.max_attempts)),
            retry_base_s=float(env.get("RETRY_BASE_S", defaults.retry_base_s)),
            retry_max_s=float(env.get("RETRY_MAX_S", defaults.retry_max_s)),
            http_timeout_s=float(env.get("HTTP_TIMEOUT_S", defaults.http_timeout_s)),
            allow_loopback_webhooks=env.get("ALLOW_LOOPBACK_WEBHOOKS", "0") == "1",
            scheduler_interval_s=float(env.get("SCHEDULER_INTERVAL_S", defaults.scheduler_interval_s)),
            reminder_days=tuple(int(d) for d in env.get("REMINDER_DAYS", "3,1").split(",") if d.strip()),
            oncall=parse_oncall(env.get("ONCALL", "")),
        )


def _local_url(service: str) -> str:
    """A sibling service on this host at its configured port (embedded mode and ``make stack``)."""
    return f"http://127.0.0.1:{Settings.from_env(service).port}"


def parse_oncall(raw: str) -> dict[str, OnCall]:
    """``{"hospital-a": {"email": ..., "phone": ...}, "dr-li": {...}, "default": {...}}`` → OnCall per key.

    Keys are hospital ids, staff ids (the on-call clinicians and second lines named by
    assessment's task alerts) or ``default``.
    """
    if not raw.strip():
        return {}
    mapping = json.loads(raw)
    if not isinstance(mapping, dict):
        raise ValueError("NOTIFICATION_ONCALL must be a JSON object keyed by hospital id")
    return {
        str(k): OnCall(v.get("email"), v.get("phone"), v.get("language", "en")) for k, v in mapping.items()
    }
