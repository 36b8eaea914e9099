"""A staff token revoked at the console is refused by another service on the real store (issue 11 item 5).

Console and scheduling are built as two separate apps sharing only the store (the auth
database beside scheduling's own), as in the stack; the scheduling process's cached
"not revoked" answer lasts WAYMARK_REVOCATION_CACHE_S (1 s here).
"""

from __future__ import annotations

import uuid

import pytest

from services.console.bootstrap import build as build_console
from services.scheduling.bootstrap import build as build_scheduling
from services.scheduling.config import Config
from shared.auth import StaffTokens
from shared.settings import Settings
from tests.support.processes import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def auth_db_name(mongo_client):
    name = f"auth_{uuid.uuid4().hex[:8]}"
    yield name
    mongo_client.drop_database(name)


def test_a_revoked_token_stops_working_everywhere_within_the_cache_window(
    mongo_db, mongo_client, auth_db_name
):
    settings = {"revocation_cache_s": 1.0, "auth_db": auth_db_name}
    scheduling = build_scheduling(
        Settings(service="scheduling", **settings),
        db=mongo_db,
        config=Config(offer_secret="integration-offer-secret-0123456789"),
        run_duties=False,
    ).app.test_client()
    console = build_console(
        Settings(service="console", **settings), urls={}, auth_db=mongo_client[auth_db_name]
    ).test_client()
    tokens = StaffTokens(Settings.staff_token_secret)
    scheduler = {"Authorization": f"Bearer {tokens.issue('dr-lost-laptop', 'scheduler')}"}
    assert scheduling.get("/v1/hospitals", headers=scheduler).status_code == 200

    operator = {"Authorization": f"Bearer {tokens.issue('op', 'operator')}"}
    body = {"token": scheduler["Authorization"].removeprefix("Bearer ")}
    assert console.post("/api/staff-tokens/revocations", json=body, headers=operator).status_code == 201

    eventually(
        lambda: scheduling.get("/v1/hospitals", headers=scheduler).status_code == 401,
        timeout=5,
        what="scheduling to refuse the revoked token",
    )
    assert scheduling.get("/v1/hospitals", headers=operator).status_code == 200  # others unaffected
