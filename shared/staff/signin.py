"""Signing staff in and out: password (argon2id) + optional TOTP, lockout, sessions, disable.

This is where the rules meet; the HTTP layer (:mod:`shared.staff.web`) and the CLI only
call it. Everything lives in the shared auth database, so a session made on one service's
page is valid on every service that reads the same store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from pymongo.database import Database

from shared import store
from shared.auth import REGION
from shared.settings import Settings
from shared.staff import totp
from shared.staff.accounts import Account, Accounts, NoSuchAccount
from shared.staff.lockout import MAX_ATTEMPTS, WINDOW_S, Lockout
from shared.staff.passwords import Passwords
from shared.staff.sessions import DEFAULT_TTL_S, Session, Sessions


@dataclass(frozen=True)
class Outcome:
    """A sign-in's result: a session, or why not (``locked`` carries ``retry_after_s``)."""

    session_id: str = ""
    session: Session | None = None
    problem: str = ""  # "", "refused" or "locked"
    retry_after_s: int = 0

    @property
    def ok(self) -> bool:
        return self.session is not None


REFUSED = Outcome(problem="refused")


class StaffAuth:
    def __init__(
        self,
        db: Database,
        *,
        passwords: Passwords | None = None,
        session_ttl_s: float = DEFAULT_TTL_S,
        max_attempts: int = MAX_ATTEMPTS,
        window_s: int = WINDOW_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.passwords = passwords or Passwords()
        self.accounts = Accounts(db, clock=lambda: datetime.fromtimestamp(clock(), UTC))
        self.sessions = Sessions(db, ttl_s=session_ttl_s, clock=clock)
        self.lockout = Lockout(db, max_attempts=max_attempts, window_s=window_s, clock=clock)
        self.codes = totp.OneTimeCodes(db, clock=clock)

    @classmethod
    def for_settings(cls, settings: Settings, db: Database | None = None) -> StaffAuth:
        """On the auth database (``WAYMARK_AUTH_DB``) of ``settings``' store, or on ``db`` if given."""
        if db is None:
            db = store.connect(settings.but(mongo_db=settings.auth_db))
        env = settings.staff
        return cls(
            db,
            session_ttl_s=env.session_ttl_s,
            max_attempts=env.lockout_attempts,
            window_s=env.lockout_window_s,
        )

    # --- accounts ---------------------------------------------------------------------------

    def create_account(
        self,
        username: str,
        role: str,
        hospitals: Iterable[str] = (REGION,),
        *,
        password: str | None,
        name: str = "",
    ) -> Account:
        """``password=None`` makes an account that signs in only through its hospital's OIDC provider."""
        hashed = self.passwords.hash(password) if password is not None else None
        return self.accounts.create(username, role, hospitals, password_hash=hashed, name=name)

    def disable(self, username: str) -> int:
        """Disable the account, then end its sessions (in this order; see shared.staff.sessions)."""
        self.accounts.set_disabled(username, True)
        return self.sessions.revoke_account(username)

    def enable(self, username: str) -> None:
        self.accounts.set_disabled(username, False)

    def set_totp(self, username: str, secret: str, code: str) -> bool:
        """Turn on TOTP once the person proves their app holds ``secret`` (a current code)."""
        if self.accounts.get(username) is None:
            raise NoSuchAccount(username)
        if not self.codes.accept(username, secret, code):
            return False
        self.accounts.set_totp_secret(username, secret)
        return True

    # --- signing in and out -----------------------------------------------------------------

    def sign_in(self, username: str, password: str, code: str = "") -> Outcome:
        username = username.strip().lower()
        claim = self.lockout.claim(username)
        if not claim.allowed:
            return Outcome(problem="locked", retry_after_s=claim.retry_after_s)
        account = self.accounts.get(username)
        hashed = account.password_hash if account else None
        if not self.passwords.verify(hashed, password) or account is None or account.disabled:
            return REFUSED  # one answer for unknown, disabled and wrong, after the same argon2 work
        if account.totp_secret is not None and not self.codes.accept(username, account.totp_secret, code):
            return REFUSED  # the same answer as a wrong password: no oracle for the password alone
        self.lockout.succeeded(username)
        if hashed and self.passwords.needs_rehash(hashed):
            self.accounts.set_password_hash(username, self.passwords.hash(password))
        return self.start_session(account, via="password")

    def start_session(self, account: Account, via: str) -> Outcome:
        """A session for an authenticated account, unless it was disabled meanwhile (then none)."""
        session_id, session = self.sessions.create(account, via=via)
        again = self.accounts.get(account.username)  # after the insert: see shared.staff.sessions
        if again is None or again.disabled:
            self.sessions.revoke_key(session.key)
            return REFUSED
        return Outcome(session_id=session_id, session=session)

    def sign_out(self, session_id: str) -> None:
        self.sessions.revoke(session_id)
