"""Who is calling: school API keys (stored hashed) and signed staff tokens.

School keys are random secrets; a service stores only their SHA-256 (high-entropy
secrets need no slow hash) and looks the caller up by it. Staff tokens (schedulers,
clinicians, operators) are signed by the platform secret, so every service can verify
a token's role and hospital scope without sharing a user database.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from flask import g, request
from flask_smorest import abort
from itsdangerous import BadSignature, URLSafeSerializer

SCHOOL_KEY_PREFIX = "wm_school_"
STAFF_ROLES = ("scheduler", "clinician", "operator", "service")


@dataclass(frozen=True)
class Principal:
    kind: str  # "school" or "staff"
    subject: str  # school id or staff member id
    role: str = ""
    hospitals: tuple[str, ...] = field(default_factory=tuple)

    def can_act_for(self, hospital_id: str) -> bool:
        """Staff scoped to hospitals act only for those; '*' is the regional scope."""
        return "*" in self.hospitals or hospital_id in self.hospitals


def new_school_key() -> tuple[str, str]:
    """A fresh key and the hash to store; the key itself is shown once and never stored."""
    key = SCHOOL_KEY_PREFIX + secrets.token_urlsafe(32)
    return key, hash_key(key)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class StaffTokens:
    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("the staff token secret must be at least 16 characters")
        self._serializer = URLSafeSerializer(secret, salt="waymark-staff")

    def issue(self, subject: str, role: str, hospitals: Iterable[str] = ("*",)) -> str:
        if role not in STAFF_ROLES:
            raise ValueError(f"role must be one of {STAFF_ROLES}")
        return self._serializer.dumps({"sub": subject, "role": role, "hospitals": list(hospitals)})

    def verify(self, token: str) -> Principal | None:
        try:
            claims = self._serializer.loads(token)
        except BadSignature:
            return None
        return Principal("staff", claims["sub"], claims["role"], tuple(claims["hospitals"]))


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require_staff(tokens: StaffTokens, *roles: str) -> Principal:
    """The calling staff member, or abort 401/403; stores it on ``flask.g.principal``."""
    token = bearer_token()
    principal = tokens.verify(token) if token else None
    if principal is None:
        abort(401, message="A valid staff token is required (Authorization: Bearer ...).")
    if roles and principal.role not in roles:
        abort(403, message=f"This needs one of the roles: {', '.join(roles)}.")
    g.principal = principal
    return principal
