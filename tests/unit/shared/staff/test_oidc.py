"""The single sign-on rules with a fake provider (keys, discovery and token endpoint in memory).
The real provider is exercised in tests/e2e/test_staff_signin.py."""

from __future__ import annotations

import urllib.parse

import pytest

from shared.staff.oidc import (
    JsonWebKey,
    ProviderConfig,
    SingleSignOn,
    SsoError,
    jwt,
    providers_from_json,
)  # Authlib, imported quietly there

ISSUER = "https://login.bch.example"
CLIENT = "waymark-bch"


class FakeProvider:
    def __init__(self) -> None:
        self.key = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": "k1"})
        self.signing_key = self.key  # what the token endpoint signs with; the JWKS publishes self.key
        self.claims: dict = {}
        self.token_requests: list[dict] = []

    def get_json(self, url: str) -> dict:
        if url.endswith("/.well-known/openid-configuration"):
            return {
                "issuer": ISSUER,
                "authorization_endpoint": f"{ISSUER}/auth",
                "token_endpoint": f"{ISSUER}/token",
                "jwks_uri": f"{ISSUER}/jwks",
            }
        assert url == f"{ISSUER}/jwks"
        return {"keys": [self.key.as_dict(is_private=False)]}

    def post_form(self, url: str, form: dict, basic: tuple[str, str]) -> dict:
        self.token_requests.append({"url": url, **form, "basic": basic})
        token = jwt.encode({"alg": "RS256", "kid": "k1"}, self.claims, self.signing_key)
        return {"id_token": token.decode(), "access_token": "at"}


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def sso(auth, auth_db, provider, clock) -> SingleSignOn:
    config = {"bch": ProviderConfig("bch", ISSUER, CLIENT, "client-secret")}
    auth.create_account("zhang.wei", "clinician", ["bch"], password=None)
    sso = SingleSignOn(
        auth_db, config, auth, clock=clock, get_json=provider.get_json, post_form=provider.post_form
    )
    sso.link("bch", "sub-42", "zhang.wei")
    return sso


def start(sso: SingleSignOn, provider: FakeProvider, clock, **claims) -> str:
    started = sso.begin("bch", "http://127.0.0.1/staff/sso/callback", "/ui")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(started.url).query))
    assert query["code_challenge_method"] == "S256" and query["client_id"] == CLIENT
    now = int(clock.now)
    provider.claims = {
        "iss": ISSUER, "sub": "sub-42", "aud": CLIENT, "iat": now, "exp": now + 300, "nonce": query["nonce"], **claims
    }  # fmt: skip
    return started.state


def test_a_linked_subject_gets_a_session_with_its_accounts_role_and_hospital(sso, provider, clock):
    state = start(sso, provider, clock)
    outcome, target = sso.finish(state, "the-code", state)
    assert target == "/ui" and outcome.session.via == "oidc:bch"
    assert outcome.session.principal().hospitals == ("bch",) and outcome.session.role == "clinician"
    sent = provider.token_requests[0]
    assert (
        sent["code"] == "the-code"
        and len(sent["code_verifier"]) >= 43
        and sent["basic"] == (CLIENT, "client-secret")
    )


def test_the_callback_must_come_to_the_browser_that_started_it_and_works_once(sso, provider, clock):
    state = start(sso, provider, clock)
    with pytest.raises(SsoError, match="not started in this browser"):
        sso.finish(state, "code", "another-state")
    sso.finish(state, "code", state)
    with pytest.raises(SsoError, match="used already"):
        sso.finish(state, "code", state)


def test_an_old_start_expires(sso, provider, clock):
    state = start(sso, provider, clock)
    clock.now += 601
    with pytest.raises(SsoError, match="expired"):
        sso.finish(state, "code", state)


@pytest.mark.parametrize(
    ("claims", "problem"),
    [({"iss": "https://evil.example"}, "not valid"), ({"aud": "someone-else"}, "not valid"),
     ({"nonce": "replayed"}, "not valid"), ({"exp": 1}, "not valid"), ({"sub": "sub-unknown"}, "no active")],
)  # fmt: skip
def test_a_bad_id_token_or_an_unlinked_subject_gets_no_session(sso, provider, clock, auth, claims, problem):
    state = start(sso, provider, clock, **claims)
    with pytest.raises(SsoError, match=problem):
        sso.finish(state, "code", state)
    assert auth.sessions.collection.count_documents({}) == 0


def test_a_token_signed_by_another_key_is_refused(sso, provider, clock):
    state = start(sso, provider, clock)
    provider.signing_key = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": "k1"})
    with pytest.raises(SsoError, match="not valid"):
        sso.finish(state, "code", state)


def test_a_disabled_account_and_regional_accounts_cannot_use_a_hospitals_provider(sso, provider, clock, auth):
    auth.disable("zhang.wei")
    state = start(sso, provider, clock)
    with pytest.raises(SsoError, match="no active"):
        sso.finish(state, "code", state)
    auth.create_account("regional", "operator", ["*"], password=None)
    with pytest.raises(SsoError, match="not the region"):
        sso.link("bch", "sub-7", "regional")


def test_configuration_needs_an_http_issuer():
    assert providers_from_json("") == {}
    parsed = providers_from_json(
        '{"bch": {"issuer": "https://login.bch.example/", "client_id": "c", "client_secret": "s"}}'
    )
    assert parsed["bch"].issuer == "https://login.bch.example"
    with pytest.raises(ValueError, match="http"):
        providers_from_json(
            '{"bch": {"issuer": "file:///etc/passwd", "client_id": "c", "client_secret": "s"}}'
        )
