"""Single sign-on for hospitals that run an OpenID Connect provider (authorization code + PKCE).

Each hospital with single sign-on is configured by its issuer URL and the client Waymark is
registered as there (``WAYMARK_OIDC_PROVIDERS``, JSON: hospital id -> ``{"issuer",
"client_id", "client_secret"}``, optionally ``"redirect_uri"`` when a proxy changes the
host). Endpoints come from the issuer's discovery document; the ID token is checked with
Authlib (signature against the issuer's JWKS, ``iss``, ``aud``, expiry, ``nonce``).

Who may sign in this way is decided here, not by the provider: an account must be linked to
the provider's subject (``waymark staff create NAME ROLE --hospital H --sso-subject SUB``),
and the account's scope must name that hospital. A hospital's provider vouches only for
its own staff, so regional accounts (scope ``*``) sign in with a password.

State: each sign-in start stores ``{state, nonce, PKCE verifier, next}`` in
``staff_sso_requests`` and binds it to the browser with a short-lived cookie; the callback
spends the state with a unique insert (``staff_sso_used``), so a code/state pair is used once
even by racing requests.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import authlib.deprecate

with warnings.catch_warnings():  # Authlib 1.x warns that authlib.jose moves to joserfc in 2.0
    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.jose import JsonWebKey, jwt
    from authlib.jose.errors import JoseError
    from authlib.oauth2.rfc7636 import create_s256_code_challenge
    from authlib.oidc.core import CodeIDToken
from joserfc.errors import JoseError as JoserfcError
from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from shared.auth import REGION
from shared.staff.signin import Outcome, StaffAuth
from shared.store import Index, ensure_indexes

REQUESTS = "staff_sso_requests"
USED = "staff_sso_used"
LINKS = "staff_sso_links"
REQUEST_TTL_S = 600
DISCOVERY_TTL_S = 300
HTTP_TIMEOUT_S = 5
INDEXES = {
    REQUESTS: [Index([("expires_at", ASCENDING)], name="by_expiry")],
    USED: [Index([("expires_at", ASCENDING)], name="by_expiry")],
    LINKS: [Index([("username", ASCENDING)], name="by_account")],
}


class SsoError(RuntimeError):
    """The sign-in cannot complete; the message is safe to show."""


@dataclass(frozen=True)
class ProviderConfig:
    hospital: str
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str = ""


def providers_from_json(text: str) -> dict[str, ProviderConfig]:
    if not text.strip():
        return {}
    raw = json.loads(text)
    for hospital, spec in raw.items():
        if urllib.parse.urlsplit(spec.get("issuer", "")).scheme not in ("https", "http"):
            raise ValueError(f"WAYMARK_OIDC_PROVIDERS[{hospital!r}]: the issuer must be an http(s) URL")
    return {
        hospital: ProviderConfig(
            hospital=hospital,
            issuer=spec["issuer"].rstrip("/"),
            client_id=spec["client_id"],
            client_secret=spec["client_secret"],
            redirect_uri=spec.get("redirect_uri", ""),
        )
        for hospital, spec in raw.items()
    }


def _get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
        return json.loads(response.read())


def _post_form(url: str, form: Mapping[str, str], basic: tuple[str, str]) -> dict[str, Any]:
    user, password = (urllib.parse.quote(part, safe="") for part in basic)  # RFC 6749 2.3.1
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(form).encode(),
        headers={"Authorization": f"Basic {auth}", "Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise SsoError(f"the identity provider refused the code ({exc.code})") from exc


def link_subject(db: Database, auth: StaffAuth, hospital: str, subject: str, username: str) -> None:
    """Let ``hospital``'s provider sign ``username`` in as ``subject`` (one account per subject)."""
    account = auth.accounts.get(username)
    if account is None or hospital not in account.hospitals or REGION in account.hospitals:
        raise SsoError(f"{username} must be an account scoped to {hospital} (not the region)")
    try:
        db[LINKS].insert_one({"_id": f"{hospital}|{subject}", "username": username})
    except DuplicateKeyError:
        raise SsoError(f"{hospital}'s subject {subject!r} is linked to an account already") from None


@dataclass(frozen=True)
class Started:
    url: str
    state: str


class SingleSignOn:
    def __init__(
        self,
        db: Database,
        providers: Mapping[str, ProviderConfig],
        auth: StaffAuth,
        *,
        clock: Callable[[], float] = time.time,
        get_json: Callable[[str], dict[str, Any]] = _get_json,
        post_form: Callable[..., dict[str, Any]] = _post_form,
    ) -> None:
        self.providers = dict(providers)
        self.auth = auth
        self.requests = db[REQUESTS]
        self.used = db[USED]
        self.links = db[LINKS]
        self._clock = clock
        self._get_json = get_json
        self._post_form = post_form
        self._discovered: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        ensure_indexes(db, INDEXES)

    def hospitals(self) -> list[str]:
        return sorted(self.providers)

    # --- linking accounts -------------------------------------------------------------------

    def link(self, hospital: str, subject: str, username: str) -> None:
        link_subject(self.links.database, self.auth, hospital, subject, username)

    # --- the flow -----------------------------------------------------------------------------

    def begin(self, hospital: str, redirect_uri: str, next_path: str) -> Started:
        provider = self._provider(hospital)
        meta = self._metadata(provider)
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        now = self._clock()
        self.requests.delete_many({"expires_at": {"$lt": _instant(now)}})
        self.used.delete_many({"expires_at": {"$lt": _instant(now)}})
        self.requests.insert_one(
            {
                "_id": state,
                "hospital": hospital,
                "nonce": nonce,
                "verifier": verifier,
                "next": next_path,
                "redirect_uri": provider.redirect_uri or redirect_uri,
                "expires_at": _instant(now + REQUEST_TTL_S),
            }
        )
        query = {
            "response_type": "code",
            "client_id": provider.client_id,
            "redirect_uri": provider.redirect_uri or redirect_uri,
            "scope": "openid profile email",
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
        return Started(f"{meta['authorization_endpoint']}?{urllib.parse.urlencode(query)}", state)

    def finish(self, state: str, code: str, browser_state: str | None) -> tuple[Outcome, str]:
        """The session for the callback's ``code``, and where to go next."""
        if not state or not browser_state or not secrets.compare_digest(state, browser_state):
            raise SsoError("this sign-in was not started in this browser; please start again")
        request = self.requests.find_one({"_id": state})
        if request is None or request["expires_at"].replace(tzinfo=UTC).timestamp() < self._clock():
            raise SsoError("this sign-in has expired; please start again")
        try:
            self.used.insert_one({"_id": state, "expires_at": request["expires_at"]})
        except DuplicateKeyError:
            raise SsoError("this sign-in was used already; please start again") from None
        provider = self._provider(request["hospital"])
        meta = self._metadata(provider)
        tokens = self._post_form(
            meta["token_endpoint"],
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": request["redirect_uri"],
                "code_verifier": request["verifier"],
            },
            basic=(provider.client_id, provider.client_secret),
        )
        claims = self._verified_claims(provider, meta, tokens.get("id_token", ""), request["nonce"])
        link = self.links.find_one({"_id": f"{provider.hospital}|{claims['sub']}"})
        account = self.auth.accounts.get(link["username"]) if link else None
        if account is None or provider.hospital not in account.hospitals or account.disabled:
            raise SsoError(f"no active Waymark account is linked to this {provider.hospital} sign-in")
        outcome = self.auth.start_session(account, via=f"oidc:{provider.hospital}")
        if not outcome.ok:
            raise SsoError("this account cannot sign in right now")
        return outcome, request["next"]

    def _verified_claims(
        self, provider: ProviderConfig, meta: Mapping[str, Any], id_token: str, nonce: str
    ) -> Mapping[str, Any]:
        if not id_token:
            raise SsoError("the identity provider sent no ID token")
        keys = JsonWebKey.import_key_set(self._get_json(meta["jwks_uri"]))
        try:
            claims = jwt.decode(
                id_token,
                keys,
                claims_cls=CodeIDToken,
                claims_options={
                    "iss": {"essential": True, "value": provider.issuer},
                    "aud": {"essential": True, "value": provider.client_id},
                },
                claims_params={"nonce": nonce, "client_id": provider.client_id},
            )
            claims.validate(now=int(self._clock()), leeway=60)
        except (JoseError, JoserfcError, ValueError) as exc:  # Authlib 1.9's jose raises joserfc's errors
            raise SsoError(
                f"the ID token is not valid ({getattr(exc, 'error', type(exc).__name__)})"
            ) from exc
        return claims

    def _provider(self, hospital: str) -> ProviderConfig:
        provider = self.providers.get(hospital)
        if provider is None:
            raise SsoError(f"{hospital} has no single sign-on configured")
        return provider

    def _metadata(self, provider: ProviderConfig) -> dict[str, Any]:
        now = self._clock()
        with self._lock:
            hit = self._discovered.get(provider.issuer)
        if hit is not None and now - hit[0] < DISCOVERY_TTL_S:
            return hit[1]
        meta = self._get_json(f"{provider.issuer}/.well-known/openid-configuration")
        if meta.get("issuer", "").rstrip("/") != provider.issuer:
            raise SsoError("the identity provider's discovery document names another issuer")
        with self._lock:
            self._discovered[provider.issuer] = (now, meta)
        return meta


def _instant(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
