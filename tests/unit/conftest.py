from __future__ import annotations

import mongomock
import pytest

from shared.memory_bus import MemoryBus
from shared.settings import ConsumerPolicy, Settings


@pytest.fixture
def db():
    return mongomock.MongoClient(tz_aware=True)["unit"]


@pytest.fixture
def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture
def settings() -> Settings:
    return Settings(
        service="probe",
        consumer=ConsumerPolicy(
            max_attempts=3, backoff_initial_s=0.001, backoff_max_s=0.002, dead_letter_cap=2
        ),
        relay_interval_s=0.01,
        outbox_grace_s=0.05,
    )
