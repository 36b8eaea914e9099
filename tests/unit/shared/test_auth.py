"""Staff tokens expire and can be revoked; state-changing requests from other sites are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import mongomock
import pytest
from flask import jsonify
from itsdangerous import URLSafeSerializer

from shared.auth import (
    MAX_TTL_S,
    OPEN,
    RevocationList,
    StaffTokens,
    TokenSource,
    install_policies,
    require_staff,
    staff,
)
from shared.http import create_app

SECRET = "a-long-enough-unit-test-secret-0123456789"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def revocations():
    clock = Clock(0.0)
    found = RevocationList(mongomock.MongoClient()["waymark_auth"], cache_s=10, clock=clock)
    found.clock = clock  # type: ignore[attr-defined]
    return found


def test_a_token_carries_an_id_and_expires_after_its_lifetime():
    clock = Clock()
    tokens = StaffTokens(SECRET, ttl_s=8 * 3600, clock=clock)
    token = tokens.issue("dr-li", "clinician", ["h1"])
    principal = tokens.verify(token)
    assert principal is not None and principal.hospitals == ("h1",) and len(principal.token_id) >= 12
    assert principal.expires_at == clock.now + 8 * 3600
    clock.now += 8 * 3600 - 1
    assert tokens.verify(token) is not None
    clock.now += 1
    assert tokens.verify(token) is None


def test_tokens_signed_before_expiry_existed_are_refused():
    legacy = URLSafeSerializer(SECRET, salt="waymark-staff").dumps(
        {"sub": "old", "role": "operator", "hospitals": ["*"]}
    )
    assert StaffTokens(SECRET).verify(legacy) is None


def test_no_token_outlives_the_maximum():
    with pytest.raises(ValueError):
        StaffTokens(SECRET).issue("x", "operator", ttl_s=MAX_TTL_S + 1)


def test_a_revoked_token_is_refused_and_the_answer_is_cached_briefly(revocations):
    tokens = StaffTokens(SECRET, revocations=revocations)
    token = tokens.issue("op", "operator")
    token_id = tokens.decode(token).token_id
    assert tokens.verify(token) is not None
    # another process revokes it: this one trusts its cached "not revoked" for cache_s seconds
    other = RevocationList(revocations.collection.database, cache_s=10)
    other.revoke(token_id, datetime.now(UTC) + timedelta(hours=1), by="op-2")
    assert tokens.verify(token) is not None
    revocations.clock.now += 10
    assert tokens.verify(token) is None
    # the process that revokes forgets its own cached answer at once
    second = tokens.issue("op", "operator")
    assert tokens.verify(second) is not None
    revocations.revoke(tokens.decode(second).token_id, datetime.now(UTC) + timedelta(hours=1), by="op")
    assert tokens.verify(second) is None


def test_revoking_twice_is_harmless_and_expired_entries_are_purged(revocations):
    now = datetime.now(UTC)
    revocations.revoke("gone-token-id", now - timedelta(seconds=1), by="op", now=now)
    revocations.revoke("live-token-id", now + timedelta(hours=1), by="op", now=now)
    revocations.revoke("live-token-id", now + timedelta(hours=1), by="op", now=now)
    assert sorted(d["_id"] for d in revocations.collection.find()) == ["live-token-id"]


def test_a_service_token_source_renews_before_expiry(monkeypatch):
    source = TokenSource(StaffTokens(SECRET), "notification", ttl_s=60)
    first = source()
    assert source() == first
    monkeypatch.setattr("shared.auth.time.time", lambda: StaffTokens(SECRET).decode(first).expires_at - 20)
    assert source() != first


@pytest.fixture
def app(revocations):
    app = create_app("svc", title="t")

    @app.post("/things")
    def change():
        return jsonify(ok=True)

    @app.get("/staff")
    def staff_only():
        return jsonify(subject=require_staff(app.extensions["tokens"]).subject)

    @app.get("/unlisted")
    def unlisted():
        return jsonify(ok=True)

    tokens = StaffTokens(SECRET, revocations=revocations)
    app.extensions["tokens"] = tokens
    install_policies(
        app, tokens, {("POST", "/things"): OPEN, ("GET", "/staff"): staff("operator", scope="hospital")}
    )
    return app


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),  # programs send no Origin; they authenticate with headers they set themselves
        ({"Origin": "http://localhost"}, 200),
        ({"Origin": "https://localhost"}, 200),  # TLS may end at a proxy
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-origin"}, 200),
    ],
)
def test_every_state_changing_request_from_another_site_is_refused(app, headers, status):
    assert app.test_client().post("/things", headers=headers).status_code == status


def test_trusted_origins_are_configured_per_install():
    app = create_app("svc", title="t", trusted_origins=["https://waymark.example.org"])
    app.post("/x")(lambda: jsonify(ok=True))
    client = app.test_client()
    assert client.post("/x", headers={"Origin": "https://waymark.example.org"}).status_code == 200
    assert client.post("/x", headers={"Origin": "https://other.example.org"}).status_code == 403


def test_a_route_without_a_policy_is_refused(app):
    assert app.test_client().get("/unlisted").status_code == 403


def test_staff_routes_answer_401_for_missing_expired_or_revoked_tokens(app, revocations):
    client = app.test_client()
    tokens = StaffTokens(SECRET)
    assert client.get("/staff").status_code == 401
    expired = StaffTokens(SECRET, clock=Clock(1_000_000_000.0)).issue("op", "operator")
    assert client.get("/staff", headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    good = tokens.issue("op", "operator", ["h1"])
    assert client.get("/staff", headers={"Authorization": f"Bearer {good}"}).status_code == 200
    assert client.head("/staff").status_code == 401  # HEAD is GET without a body: same policy
    revocations.revoke(tokens.decode(good).token_id, datetime.now(UTC) + timedelta(hours=1), by="op")
    assert client.get("/staff", headers={"Authorization": f"Bearer {good}"}).status_code == 401
    scheduler = tokens.issue("s", "scheduler")
    assert client.get("/staff", headers={"Authorization": f"Bearer {scheduler}"}).status_code == 403


def test_a_token_is_not_trusted_while_revocations_cannot_be_read(app, revocations, monkeypatch):
    from pymongo.errors import ServerSelectionTimeoutError

    def down(*_args, **_kwargs):
        raise ServerSelectionTimeoutError("store down")

    monkeypatch.setattr(revocations.collection, "find_one", down)
    good = StaffTokens(SECRET).issue("op", "operator")
    response = app.test_client().get("/staff", headers={"Authorization": f"Bearer {good}"})
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"


def test_an_outage_keeps_recent_answers_but_trusts_no_unchecked_token(revocations, monkeypatch):
    from pymongo.errors import ServerSelectionTimeoutError

    from shared.auth import STALE_IF_ERROR_S, RevocationUnavailable

    revocations.is_revoked("seen-before")
    revocations.clock.now += 60  # past the cache, within stale-if-error

    def down(*_args, **_kwargs):
        raise ServerSelectionTimeoutError("store down")

    monkeypatch.setattr(revocations.collection, "find_one", down)
    assert revocations.is_revoked("seen-before") is False
    with pytest.raises(RevocationUnavailable):
        revocations.is_revoked("never-seen")
    revocations.clock.now += STALE_IF_ERROR_S
    with pytest.raises(RevocationUnavailable):
        revocations.is_revoked("seen-before")
