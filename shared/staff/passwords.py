"""Staff passwords: argon2id hashes (argon2-cffi), verified in constant work even for unknown names.

Only the hash is stored. Parameters are argon2-cffi's RFC 9106 "low memory" profile (64 MiB,
3 passes), read back from each hash, so raising them later re-hashes a password at its
next successful sign-in (:meth:`Passwords.needs_rehash`) without a migration.
"""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
"""Shortest password an account accepts (NIST SP 800-63B: length, not composition rules)."""
MAX_LENGTH = 256
"""Longest: argon2 copes with any length, but a megabyte 'password' is a denial-of-service."""


class WeakPassword(ValueError):
    """The password is too short or too long to be set."""


class Passwords:
    """Hash and verify with argon2id; tests pass cheap parameters, production uses the defaults."""

    def __init__(self, time_cost: int = 3, memory_cost_kib: int = 64 * 1024, parallelism: int = 4) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=parallelism, type=Type.ID
        )
        self._dummy: str | None = None  # made at the first unknown name: building an app stays cheap

    def hash(self, password: str) -> str:
        if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
            raise WeakPassword(f"a password has {MIN_LENGTH} to {MAX_LENGTH} characters")
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches; with no stored hash, the same work against a dummy, then False."""
        if len(password) > MAX_LENGTH:
            return False
        if stored_hash is None and self._dummy is None:
            self._dummy = self._hasher.hash("waymark-no-such-account")
        try:
            return self._hasher.verify(stored_hash or self._dummy or "", password) and stored_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)
