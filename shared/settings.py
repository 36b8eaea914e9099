"""Settings read from the environment, once, into one frozen object per service.

This is the only module that reads ``os.environ`` for runtime configuration, so a
service's whole configuration is visible in one place and tests can build a
``Settings`` by hand instead of patching the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from shared.secret_keys import DEV_STAFF_TOKEN_SECRET, require

SERVICES: Mapping[str, int] = {
    "referral": 8001,
    "assessment": 8002,
    "scheduling": 8003,
    "notification": 8004,
}
"""The platform's services and their default API ports: the one list of services.

The embedded platform and the stack (``services.platform.SERVICE_NAMES``), the console's
watch list (``services.console.bootstrap.WATCHED``) and the documents generator all read
it; tests/unit/test_architecture.py fails when a ``services/<name>/`` service is not in it.
"""
CONSOLE = "console"
DEFAULT_PORTS = {**SERVICES, CONSOLE: 8080}

EMBEDDED = "embedded"
KAFKA = "kafka"
DEFAULT_API_WORKERS = 2
"""gunicorn worker processes per service API (GUNICORN_WORKERS; shared/gunicorn_conf.py)."""


@dataclass(frozen=True)
class ConsumerPolicy:
    """How a consumer treats a failing event: retry with backoff, then dead-letter."""

    max_attempts: int = 5
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0
    dead_letter_cap: int = 10
    """Consecutive dead letters after which the consumer stops instead of draining the topic."""
    concurrency: int = 1
    """Events of different keys (cases) handled side by side within a polled batch; one key's in order."""


@dataclass(frozen=True)
class StaffSettings:
    """Staff sign-in (shared.staff): sessions, lockout, cookies and hospitals' OIDC providers."""

    session_ttl_s: float = 10 * 3600.0
    """Absolute lifetime of a signed-in session (WAYMARK_STAFF_SESSION_H, hours; a shift)."""
    lockout_attempts: int = 5
    """Failed sign-ins per user name per window before it is locked (WAYMARK_STAFF_LOCKOUT_ATTEMPTS)."""
    lockout_window_s: int = 900
    """The lockout window, aligned to the clock (WAYMARK_STAFF_LOCKOUT_WINDOW_S)."""
    cookie_secure: bool = True
    """Session cookies are ``Secure``; WAYMARK_COOKIE_SECURE=0 only for plain-http demo or dev."""
    oidc_providers: str = ""
    """JSON: hospital id -> {"issuer", "client_id", "client_secret"} (WAYMARK_OIDC_PROVIDERS)."""


@dataclass(frozen=True)
class Settings:
    service: str
    mode: str = EMBEDDED
    host: str = "127.0.0.1"
    port: int = 8000
    kafka_bootstrap: str = "127.0.0.1:19092"
    mongo_uri: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    mongo_db: str = ""
    log_level: str = "INFO"
    relay_interval_s: float = 0.2
    outbox_grace_s: float = 5.0
    duty_lease_s: float = 15.0
    """Term of the duty lease slots (WAYMARK_DUTY_LEASE_S): one worker of a service runs its duties,
    another takes over at most about one term after it dies (shared.leadership)."""
    staff_token_secret: str = DEV_STAFF_TOKEN_SECRET
    """Public default for the embedded demo only; kafka mode refuses it (shared/secret_keys.py)."""
    staff_token_ttl_s: float = 10 * 3600.0
    """Lifetime of an issued staff token (WAYMARK_STAFF_TOKEN_TTL_H, hours; a shift by default)."""
    revocation_cache_s: float = 15.0
    """How long a process trusts its answer about one revoked/not-revoked token id."""
    auth_db: str = "waymark_auth"
    """The shared database holding revoked staff-token ids (WAYMARK_AUTH_DB)."""
    trusted_origins: tuple[str, ...] = ()
    """Extra origins whose pages may send state-changing requests (WAYMARK_TRUSTED_ORIGINS,
    comma-separated, e.g. a public base URL behind a proxy that rewrites Host)."""
    consumer: ConsumerPolicy = field(default_factory=ConsumerPolicy)
    api_workers: int = 1
    """Processes serving this API: GUNICORN_WORKERS in kafka mode, 1 when embedded. Per-process
    state that must respect a service-wide bound (referral's rate limit) divides by it."""
    heartbeat_dir: str = ""
    """Where the worker stamps its heartbeat and the API's /readyz looks for it (shared.liveness);
    empty (the default outside ``make stack``): the API does not check its worker."""
    worker_instance: str = ""
    """This worker's number among its service's workers (WAYMARK_WORKER_INSTANCE; supervisord's
    process_num under ``make stack``): names its heartbeat file. Empty for a lone worker."""
    worker_stall_s: float = 60.0
    """/readyz fails when the worker's heartbeat is older than this (dead or stuck)."""
    staff: StaffSettings = field(default_factory=StaffSettings)
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode == KAFKA:
            require("WAYMARK_STAFF_TOKEN_SECRET", self.staff_token_secret)

    @property
    def database(self) -> str:
        return self.mongo_db or f"waymark_{self.service}"

    @property
    def embedded(self) -> bool:
        return self.mode == EMBEDDED

    @classmethod
    def from_env(cls, service: str, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings for ``service``; ``<SERVICE>_PORT`` and ``<SERVICE>_DB`` override per service."""
        env = os.environ if env is None else env
        prefix = service.upper()
        mode = env.get("WAYMARK_MODE", EMBEDDED)
        if mode not in (EMBEDDED, KAFKA):
            raise ValueError(f"WAYMARK_MODE must be {EMBEDDED!r} or {KAFKA!r}, not {mode!r}")
        policy = ConsumerPolicy(
            max_attempts=int(env.get("WAYMARK_CONSUMER_MAX_ATTEMPTS", 5)),
            backoff_initial_s=float(env.get("WAYMARK_CONSUMER_BACKOFF_S", 0.2)),
            backoff_max_s=float(env.get("WAYMARK_CONSUMER_BACKOFF_MAX_S", 5.0)),
            dead_letter_cap=int(env.get("WAYMARK_DEAD_LETTER_CAP", 10)),
            # The embedded store (mongomock) is not made for threads: one at a time there.
            concurrency=1 if mode == EMBEDDED else int(env.get("WAYMARK_CONSUMER_CONCURRENCY", 4)),
        )
        return cls(
            service=service,
            mode=mode,
            host=env.get("WAYMARK_HOST", "127.0.0.1"),
            port=int(env.get(f"{prefix}_PORT", DEFAULT_PORTS.get(service, 8000))),
            kafka_bootstrap=env.get("KAFKA_BOOTSTRAP", f"127.0.0.1:{env.get('KAFKA_PORT', 19092)}"),
            mongo_uri=env.get(
                "MONGO_URI",
                f"mongodb://127.0.0.1:{env.get('FERRETDB_PORT', 27017)}/?directConnection=true",
            ),
            mongo_db=env.get(f"{prefix}_DB", ""),
            log_level=env.get("WAYMARK_LOG_LEVEL", "INFO"),
            relay_interval_s=float(env.get("WAYMARK_RELAY_INTERVAL_S", 0.2)),
            outbox_grace_s=float(env.get("WAYMARK_OUTBOX_GRACE_S", 5.0)),
            duty_lease_s=float(env.get("WAYMARK_DUTY_LEASE_S", 15.0)),
            staff_token_secret=env.get(
                "WAYMARK_STAFF_TOKEN_SECRET", "" if mode == KAFKA else cls.staff_token_secret
            ),
            staff_token_ttl_s=float(env.get("WAYMARK_STAFF_TOKEN_TTL_H", 10)) * 3600,
            revocation_cache_s=float(env.get("WAYMARK_REVOCATION_CACHE_S", 15)),
            auth_db=env.get("WAYMARK_AUTH_DB", "waymark_auth"),
            trusted_origins=tuple(
                o.strip() for o in env.get("WAYMARK_TRUSTED_ORIGINS", "").split(",") if o.strip()
            ),
            consumer=policy,
            staff=StaffSettings(
                session_ttl_s=float(env.get("WAYMARK_STAFF_SESSION_H", 10)) * 3600,
                lockout_attempts=int(env.get("WAYMARK_STAFF_LOCKOUT_ATTEMPTS", 5)),
                lockout_window_s=int(env.get("WAYMARK_STAFF_LOCKOUT_WINDOW_S", 900)),
                cookie_secure=env.get("WAYMARK_COOKIE_SECURE", "1") != "0",
                oidc_providers=env.get("WAYMARK_OIDC_PROVIDERS", ""),
            ),
            heartbeat_dir=env.get("WAYMARK_HEARTBEAT_DIR", ""),
            worker_stall_s=float(env.get("WAYMARK_WORKER_STALL_S", 60.0)),
            worker_instance=env.get("WAYMARK_WORKER_INSTANCE", ""),
            api_workers=1 if mode == EMBEDDED else int(env.get("GUNICORN_WORKERS", DEFAULT_API_WORKERS)),
            extra={k: v for k, v in env.items() if k.startswith(f"{prefix}_")},
        )

    def but(self, **changes: object) -> Settings:
        """A copy with some fields changed; handy in tests."""
        return replace(self, **changes)  # type: ignore[arg-type]
