from __future__ import annotations

import mongomock
import pytest

from shared.staff.passwords import Passwords
from shared.staff.signin import StaffAuth

CHEAP = Passwords(time_cost=1, memory_cost_kib=8, parallelism=1)
"""argon2id with tiny parameters: the same code path, fast enough for unit tests."""
PASSWORD = "correct horse battery staple"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth_db():
    return mongomock.MongoClient(tz_aware=True)["waymark_auth"]


@pytest.fixture
def auth(auth_db, clock) -> StaffAuth:
    return StaffAuth(auth_db, passwords=CHEAP, session_ttl_s=3600, max_attempts=3, window_s=600, clock=clock)
