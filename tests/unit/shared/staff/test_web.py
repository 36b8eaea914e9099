"""The sign-in pages and session checks on a small app, as a browser would use them (werkzeug client)."""

from __future__ import annotations

import re

import pytest
from flask_smorest import Blueprint

from shared.auth import StaffTokens, install_policies, staff
from shared.http import create_app
from shared.settings import Settings
from shared.staff import web
from tests.unit.shared.staff.conftest import PASSWORD

OWN = {"Origin": "http://localhost"}
EVIL = {"Origin": "https://evil.example"}


@pytest.fixture
def app(auth):
    blp = Blueprint("probe", __name__)

    @blp.get("/v1/things")
    def things() -> dict:
        return {"who": auth_principal()}

    @blp.post("/v1/things")
    def change() -> dict:
        return {"changed": True}

    app = create_app("probe", title="Probe", blueprints=[blp])
    web.install(app, auth, secure_cookie=True, home="/v1/things")
    policies = {
        ("GET", "/v1/things"): staff("scheduler", scope="hospital"),
        ("POST", "/v1/things"): staff("scheduler", scope="hospital"),
        **web.POLICIES,
    }
    auth_module_tokens = StaffTokens(Settings.staff_token_secret)
    install_policies(app, auth_module_tokens, policies)
    auth.create_account("sched", "scheduler", ["bch"], password=PASSWORD)
    auth.create_account("op", "operator", ["*"], password=PASSWORD)
    return app


def auth_principal() -> str:
    from flask import g

    return f"{g.principal.subject}/{g.principal.role}/{','.join(g.principal.hospitals)}"


def sign_in(client, username="sched", password=PASSWORD, headers=OWN, code=""):
    form = client.get("/staff/sign-in?next=/v1/things").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    data = {
        "csrf_token": csrf,
        "username": username,
        "password": password,
        "code": code,
        "next": "/v1/things",
    }
    return client.post("/staff/sign-in", data=data, headers=headers)


def session_csrf(client) -> str:
    return client.get("/staff/session").get_json()["csrf_token"]


def test_signing_in_sets_a_secure_httponly_lax_session_cookie_and_the_policies_apply(app):
    client = app.test_client()
    assert client.get("/v1/things").status_code == 401
    response = sign_in(client)
    assert response.status_code == 303 and response.headers["Location"] == "/v1/things"
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("waymark_session="))
    assert all(part in cookie for part in ("Secure", "HttpOnly", "SameSite=Lax", "Max-Age=3600", "Path=/"))
    assert client.get("/v1/things").get_json() == {"who": "sched/scheduler/bch"}
    me = client.get("/staff/session").get_json()
    assert me["role"] == "scheduler" and me["hospitals"] == ["bch"] and len(me["csrf_token"]) > 20


def test_a_role_the_policy_does_not_name_is_refused(app):
    client = app.test_client()
    sign_in(client, "op")
    assert client.get("/v1/things").status_code == 403


def test_every_change_needs_the_sessions_csrf_token_and_our_origin(app):
    client = app.test_client()
    sign_in(client)
    csrf = session_csrf(client)
    assert client.post("/v1/things", headers=OWN).status_code == 403  # no token
    assert client.post("/v1/things", headers={**OWN, "X-CSRF-Token": "forged"}).status_code == 403
    assert client.post("/v1/things", headers={**EVIL, "X-CSRF-Token": csrf}).status_code == 403
    assert client.post("/v1/things", headers={"X-CSRF-Token": csrf}).status_code == 403  # no Origin
    assert client.post("/v1/things", headers={**OWN, "X-CSRF-Token": csrf}).status_code == 200
    form = client.post("/v1/things", data={"csrf_token": csrf}, headers=OWN)
    assert form.status_code == 200


def test_the_sign_in_form_is_protected_against_login_csrf(app):
    client = app.test_client()
    assert sign_in(client, headers=EVIL).status_code == 403
    forged = client.post(
        "/staff/sign-in", data={"csrf_token": "guess", "username": "sched", "password": PASSWORD}, headers=OWN
    )
    assert forged.status_code == 403
    assert not any(c.startswith("waymark_session=") for c in forged.headers.getlist("Set-Cookie"))


def test_wrong_passwords_get_401_then_a_lockout_with_retry_after(app):
    client = app.test_client()
    for _ in range(3):
        assert sign_in(client, password="wrong password!!").status_code == 401
    locked = sign_in(client)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert "Too many failed attempts" in locked.get_data(as_text=True)


def test_sign_out_ends_the_session_in_the_store(app, auth):
    client = app.test_client()
    sign_in(client)
    cookie = client.get_cookie("waymark_session").value
    assert client.post("/staff/sign-out", data={"csrf_token": "x"}, headers=OWN).status_code == 403
    out = client.post("/staff/sign-out", data={"csrf_token": session_csrf(client)}, headers=OWN)
    assert out.status_code == 303 and out.headers["Location"].startswith("/staff/sign-in")
    assert auth.sessions.resolve(cookie) is None
    client.set_cookie("waymark_session", cookie)  # a copy of the old cookie is worthless
    assert client.get("/v1/things").status_code == 401


def test_disabling_the_account_ends_a_live_browser_session(app, auth):
    client = app.test_client()
    sign_in(client)
    assert client.get("/v1/things").status_code == 200
    auth.disable("sched")
    assert client.get("/v1/things").status_code == 401


def test_bearer_tokens_still_work_for_scripts(app):
    token = StaffTokens(Settings.staff_token_secret).issue("script", "scheduler", ["bch"])
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/things", headers=headers).get_json() == {"who": "script/scheduler/bch"}
    assert client.post("/v1/things", headers=headers).status_code == 200  # no cookie: no CSRF to check
    assert client.get("/staff/session", headers=headers).get_json()["csrf_token"] is None


@pytest.mark.parametrize(
    ("target", "expected"),
    [("/ui", "/ui"), ("//evil.example/x", "/home"), ("https://evil.example", "/home"), ("/\\evil", "/home"),
     (None, "/home"), ("ui", "/home")],
)  # fmt: skip
def test_next_never_leaves_the_site(target, expected):
    assert web.safe_next(target, "/home") == expected


def test_totp_enrolment_then_sign_in_needs_the_code(app, auth, clock):
    import pyotp

    client = app.test_client()
    sign_in(client)
    page = client.get("/staff/totp").get_data(as_text=True)
    secret = re.search(r'id="secret">([A-Z2-7]+)<', page).group(1)
    assert "otpauth://totp/Waymark:sched?secret=" + secret in page
    csrf = session_csrf(client)
    wrong = client.post(
        "/staff/totp", data={"csrf_token": csrf, "secret": secret, "code": "12345x"}, headers=OWN
    )
    assert wrong.status_code == 400
    code = pyotp.TOTP(secret).at(clock.now)
    done = client.post("/staff/totp", data={"csrf_token": csrf, "secret": secret, "code": code}, headers=OWN)
    assert done.status_code == 200 and 'id="done"' in done.get_data(as_text=True)
    fresh = app.test_client()
    assert sign_in(fresh).status_code == 401
    clock.now += 30
    assert sign_in(fresh, code=pyotp.TOTP(secret).at(clock.now)).status_code == 303
