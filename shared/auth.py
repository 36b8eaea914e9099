"""Who is calling: school API keys (stored hashed) and signed, expiring, revocable staff tokens.

School keys are random secrets; a service stores only their SHA-256 (high-entropy
secrets need no slow hash) and looks the caller up by it. Staff tokens (schedulers,
clinicians, operators, services) are signed by the platform secret, so every service can
verify a token's role and hospital scope without sharing a user database. A token carries
an id (``jti``) and an expiry (``exp``, a shift long by default), and an operator can
revoke it before then: revoked ids live in one small collection of the shared auth
database, read by ``_id`` and cached for a few seconds per process (:class:`RevocationList`).

Every route of every service declares who may call it (:class:`Policy`) and
:func:`install_policies` enforces role and regional scope before the handler runs (and
before its body is parsed); a route without a policy is refused, so a new route cannot
ship open by accident. Handlers of hospital-scoped routes check the hospital of the
record they address with :meth:`Principal.can_act_for`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app, g, request
from flask_smorest import abort
from itsdangerous import BadSignature, URLSafeSerializer
from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError

from shared.http import UNSAFE_METHODS, require_same_origin
from shared.settings import Settings

log = logging.getLogger(__name__)

SCHOOL_KEY_PREFIX = "wm_school_"
STAFF_ROLES = ("scheduler", "clinician", "operator", "admin", "service")
REGION = "*"
DEFAULT_TTL_S = 10 * 3600
"""A staff token lasts one long shift unless WAYMARK_STAFF_TOKEN_TTL_H says otherwise."""
MAX_TTL_S = 7 * 24 * 3600
"""No token is issued for longer; a revocation known only by id is kept this long."""
SERVICE_TTL_S = 15 * 60
"""Tokens services mint for each other are short; :class:`TokenSource` renews them."""
REVOCATION_CACHE_S = 15.0
"""How long a process trusts its last answer about one token id (WAYMARK_REVOCATION_CACHE_S)."""
STALE_IF_ERROR_S = 600.0
"""While the store cannot be read, a token checked this recently keeps its last answer."""
AUTH_DB = "waymark_auth"
SESSION_RESOLVER = "waymark_staff_sessions"
"""``app.extensions`` key of a callable giving the signed-in person's Principal or None (shared.staff)."""
REVOKED = "revoked_staff_tokens"


@dataclass(frozen=True)
class Principal:
    kind: str  # "school" or "staff"
    subject: str  # school id or staff member id
    role: str = ""
    hospitals: tuple[str, ...] = field(default_factory=tuple)
    token_id: str = ""
    expires_at: float = 0.0

    def can_act_for(self, hospital_id: str) -> bool:
        """Staff scoped to hospitals act only for those; '*' is the regional scope."""
        return REGION in self.hospitals or hospital_id in self.hospitals

    @property
    def regional(self) -> bool:
        return REGION in self.hospitals


def new_school_key() -> tuple[str, str]:
    """A fresh key and the hash to store; the key itself is shown once and never stored."""
    key = SCHOOL_KEY_PREFIX + secrets.token_urlsafe(32)
    return key, hash_key(key)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class RevocationUnavailable(RuntimeError):
    """The revocation list could not be read; a token is not trusted without it."""


class RevocationList:
    """Revoked staff-token ids: one ``_id`` read per id, remembered for ``cache_s`` seconds.

    The collection lives in the shared auth database (``WAYMARK_AUTH_DB``, default
    ``waymark_auth``) beside every service's own database, so one revocation reaches all of
    them within ``cache_s``. Entries keep the token's expiry; once it has passed the token is
    refused anyway, so :meth:`revoke` purges them (the store has no TTL indexes). While the
    store cannot be read, an id checked within ``STALE_IF_ERROR_S`` keeps its last answer (a
    signed-in operator can still watch an outage); any other token gets 503.
    """

    def __init__(
        self,
        db: Database,
        *,
        cache_s: float = REVOCATION_CACHE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.collection = db[REVOKED]
        self._cache_s = cache_s
        self._clock = clock
        self._seen: dict[str, tuple[bool, float]] = {}
        self._lock = threading.Lock()
        try:
            self.collection.create_index([("expires_at", ASCENDING)], name="expiry")
        except PyMongoError:  # the store is down at start: revoke() will purge by scan until it is back
            log.warning("could not create the revoked tokens' expiry index", exc_info=True)

    @classmethod
    def beside(cls, db: Database, auth_db: str = AUTH_DB, **kwargs: Any) -> RevocationList:
        """The list in ``auth_db`` on the same store (same client) as a service's database."""
        return cls(db.client[auth_db], **kwargs)

    def is_revoked(self, token_id: str) -> bool:
        now = self._clock()
        with self._lock:
            hit = self._seen.get(token_id)
        if hit is not None and now - hit[1] < self._cache_s:
            return hit[0]
        try:
            revoked = self.collection.find_one({"_id": token_id}, {"_id": 1}) is not None
        except PyMongoError as exc:
            if hit is not None and now - hit[1] < STALE_IF_ERROR_S:
                return hit[0]  # checked a few minutes ago: keep serving an operator through an outage
            raise RevocationUnavailable(str(exc)) from exc
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen.clear()  # bounded memory; the next reads refill it
            self._seen[token_id] = (revoked, now)
        return revoked

    def revoke(self, token_id: str, expires_at: datetime, by: str, now: datetime | None = None) -> None:
        """Record the id (idempotent) and forget this process's cached answer about it."""
        now = now or datetime.now(UTC)
        with contextlib.suppress(DuplicateKeyError):  # revoked already: nothing to add
            self.collection.insert_one(
                {"_id": token_id, "expires_at": expires_at, "revoked_at": now, "revoked_by": by}
            )
        with self._lock:
            self._seen.pop(token_id, None)
        self.collection.delete_many({"expires_at": {"$lt": now}})


class StaffTokens:
    """Issues and verifies staff tokens: signature, expiry and (given a list) revocation."""

    def __init__(
        self,
        secret: str,
        *,
        revocations: RevocationList | None = None,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the staff token secret must be at least 16 characters")
        self._serializer = URLSafeSerializer(secret, salt="waymark-staff")
        self.revocations = revocations
        self.ttl_s = ttl_s
        self._clock = clock

    def issue(
        self, subject: str, role: str, hospitals: Iterable[str] = (REGION,), ttl_s: float | None = None
    ) -> str:
        if role not in STAFF_ROLES:
            raise ValueError(f"role must be one of {STAFF_ROLES}")
        lifetime = int(self.ttl_s if ttl_s is None else ttl_s)
        if not 0 < lifetime <= MAX_TTL_S:
            raise ValueError(f"a staff token lives between 1 s and {MAX_TTL_S // 86400} days")
        now = int(self._clock())
        return self._serializer.dumps(
            {
                "sub": subject,
                "role": role,
                "hospitals": list(hospitals),
                "jti": secrets.token_urlsafe(12),
                "iat": now,
                "exp": now + lifetime,
            }
        )

    def decode(self, token: str) -> Principal | None:
        """The token's principal if it is signed by this secret and not expired (revocation not checked)."""
        try:
            claims = self._serializer.loads(token)
            principal = Principal(
                "staff",
                str(claims["sub"]),
                str(claims["role"]),
                tuple(claims["hospitals"]),
                str(claims["jti"]),
                float(claims["exp"]),
            )
        except (BadSignature, KeyError, TypeError, ValueError):
            return None  # unsigned, or signed before tokens expired: never accepted
        return principal if principal.expires_at > self._clock() else None

    def verify(self, token: str) -> Principal | None:
        """:meth:`decode`, then refused if its id was revoked; raises RevocationUnavailable."""
        principal = self.decode(token)
        if principal is None:
            return None
        if self.revocations is not None and self.revocations.is_revoked(principal.token_id):
            return None
        return principal


def for_service(settings: Settings, db: Database) -> StaffTokens:
    """The verifier a service uses: its settings' secret and lifetime, revocations beside ``db``."""
    revocations = RevocationList.beside(db, settings.auth_db, cache_s=settings.revocation_cache_s)
    return StaffTokens(settings.staff_token_secret, revocations=revocations, ttl_s=settings.staff_token_ttl_s)


class TokenSource:
    """A service's own token for calling another service, renewed before it expires."""

    def __init__(
        self, tokens: StaffTokens, subject: str, role: str = "service", ttl_s: float = SERVICE_TTL_S
    ):
        self._tokens, self._subject, self._role, self._ttl_s = tokens, subject, role, ttl_s
        self._token, self._renew_at = "", 0.0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            now = time.time()
            if now >= self._renew_at:
                self._token = self._tokens.issue(self._subject, self._role, ttl_s=self._ttl_s)
                self._renew_at = now + self._ttl_s / 2
            return self._token


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require_staff(tokens: StaffTokens, *roles: str, cookie: str | None = None) -> Principal:
    """The calling staff member, or abort 401/403 (503 if revocations cannot be read).

    The token comes from ``Authorization: Bearer``; without one, a person's signed-in session
    (shared.staff, when the app installed it under ``SESSION_RESOLVER``; it checks the CSRF
    token of a state-changing request), or — only where a route names one — a token kept in
    an HttpOnly ``cookie``. A cookie is sent by the browser on its own,
    so a state-changing request carrying one must prove it comes from our own page
    (:func:`shared.http.require_same_origin`); a bearer header cannot be forged cross-site.
    Stores the principal on ``flask.g.principal``.
    """
    cached = g.get("principal")
    session_principal = None
    if cached is None or cached.kind != "staff":
        resolver = current_app.extensions.get(SESSION_RESOLVER)
        if resolver is not None and bearer_token() is None:
            session_principal = resolver()
    if cached is not None and cached.kind == "staff":
        principal = cached
    elif session_principal is not None:
        principal = session_principal
    else:
        token = bearer_token()
        if token is None and cookie:
            token = request.cookies.get(cookie) or None
            if token is not None and request.method in UNSAFE_METHODS:
                require_same_origin(strict=True)
        try:
            principal = tokens.verify(token) if token else None
        except RevocationUnavailable:
            abort(503, message="Staff tokens cannot be checked right now.", headers={"Retry-After": "5"})
        if principal is None:
            abort(401, message="A valid, unexpired staff token is required (Authorization: Bearer ...).")
    if roles and principal.role not in roles:
        abort(403, message=f"This needs one of the roles: {', '.join(roles)}.")
    g.principal = principal
    return principal


# --- route policies ---------------------------------------------------------------------------

PUBLIC, SCHOOL, STAFF = "public", "school", "staff"
ANY, HOSPITAL = "any", "hospital"


@dataclass(frozen=True)
class Policy:
    """Who may call one route.

    ``kind``: ``public`` (no credential: ops, pages, guardians' link-token routes), ``school``
    (a school API key, checked by the referral service) or ``staff``. For staff, ``roles``
    and ``scope``: ``region`` needs the regional scope ``*``; ``hospital`` lets a scoped token
    in and the handler checks the hospital of the addressed record (403/404 otherwise);
    ``any`` is for routes that show no hospital's data (the instrument catalogue).
    """

    kind: str
    roles: tuple[str, ...] = ()
    scope: str = REGION

    def __post_init__(self) -> None:
        assert self.kind in (PUBLIC, SCHOOL, STAFF)
        assert self.kind != STAFF or (self.roles and self.scope in (REGION, HOSPITAL, ANY))


def staff(*roles: str, scope: str = REGION) -> Policy:
    return Policy(STAFF, tuple(roles), scope)


OPEN = Policy(PUBLIC)
SCHOOL_KEY = Policy(SCHOOL)
OPS_ROUTES: Mapping[tuple[str, str], Policy] = {
    ("GET", "/healthz"): OPEN,
    ("GET", "/readyz"): OPEN,
    ("GET", "/metrics"): OPEN,
    ("GET", "/openapi.json"): OPEN,
    ("GET", "/docs"): OPEN,
    ("GET", "/docs/assets/<path:name>"): OPEN,
    ("GET", "/static/<path:filename>"): OPEN,
}
"""What create_app and flask-smorest add to every service: public, like a load balancer needs."""

Policies = Mapping[tuple[str, str], Policy]


def policy_for(policies: Policies, method: str, rule: str) -> Policy | None:
    return policies.get((method, rule)) or OPS_ROUTES.get((method, rule))


def install_policies(
    app: Flask, tokens: StaffTokens, policies: Policies, *, cookie: str | None = None
) -> None:
    """Enforce ``policies`` (keyed by (method, url rule)) on every request before its handler.

    Unmatched URLs fall through to the 404/405 handlers; a matched route with no policy is
    refused with 403 (fail closed) and the route-policy test names it.
    """
    app.extensions["waymark_policies"] = policies

    @app.before_request
    def _enforce() -> None:
        if request.url_rule is None or request.method == "OPTIONS":
            return
        method = "GET" if request.method == "HEAD" else request.method
        policy = policy_for(policies, method, request.url_rule.rule)
        if policy is None:
            abort(403, message="This route has no access policy; it is refused until it has one.")
        if policy.kind != STAFF:
            return
        principal = require_staff(tokens, *policy.roles, cookie=cookie)
        if policy.scope == REGION and not principal.regional:
            abort(403, message="This needs a regional staff token (hospital scope '*').")
