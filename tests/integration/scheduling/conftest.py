"""The scheduling service built on the real store (FerretDB) with the demo region seeded."""

from __future__ import annotations

import pytest

from services.scheduling.seed import seed_region
from tests.integration.scheduling.test_scheduling_stack import CONFIG
from tests.integration.scheduling.test_scheduling_stack import scheduling as build_scheduling
from tests.unit.scheduling.conftest import SECRET


@pytest.fixture
def scheduling(mongo_db):
    """(service, its Scheduling context): duties off, so each test drives them itself."""
    service, ctx = build_scheduling(mongo_db, staff_token_secret=SECRET)
    seed_region(mongo_db, ctx.clock, config=CONFIG)
    return service, ctx
