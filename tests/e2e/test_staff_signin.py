"""Single sign-on against a real OpenID Provider: the npm ``oidc-provider`` package under Node on
loopback (deploy/oidc-provider.sh installs it), the scheduling service's real app on the real
store, and headless Chromium walking the provider's own sign-in and consent pages."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from services.scheduling.bootstrap import build
from services.scheduling.config import Config
from shared.settings import Settings, StaffSettings
from tests.conftest import missing
from tests.e2e.conftest import ARTIFACTS, BASE, LOGS
from tests.support import oidc_provider

APP_PORT, OP_PORT = BASE + 60, BASE + 61
HOSPITAL = "bch"
CLIENT = {
    "client_id": "waymark-bch",
    "client_secret": "bch-client-secret-for-the-sso-test-0123456789",
    "redirect_uris": [f"http://127.0.0.1:{APP_PORT}/staff/sso/callback"],
}


@pytest.fixture
def issuer(tmp_path) -> Iterator[str]:
    try:
        oidc_provider.install()
    except (FileNotFoundError, OSError) as exc:
        missing(f"no OpenID Provider ({exc}); needs node + npm (deploy/oidc-provider.sh install)")
    accounts = {"dr-zhang": {"email": "zhang@bch.example", "name": "Dr Zhang"}}
    with oidc_provider.provider(OP_PORT, [CLIENT], accounts, tmp_path, LOGS / "oidc-provider.log") as url:
        yield url


@pytest.fixture
def scheduling(issuer, mongo_client, mongo_db) -> Iterator[Any]:
    auth_db = f"sso_{uuid.uuid4().hex[:8]}"
    providers = {
        HOSPITAL: {
            "issuer": issuer,
            "client_id": CLIENT["client_id"],
            "client_secret": CLIENT["client_secret"],
        }
    }
    settings = Settings(
        service="scheduling",
        host="127.0.0.1",
        port=APP_PORT,
        auth_db=auth_db,
        staff=StaffSettings(oidc_providers=json.dumps(providers)),
    )
    service = build(
        settings,
        db=mongo_db,
        config=Config(offer_secret="sso-test-offer-secret-0123456789"),
        run_duties=False,
    )
    server = make_server("127.0.0.1", APP_PORT, service.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield service.app
    finally:
        server.shutdown()
        mongo_client.drop_database(auth_db)


def provider_sign_in(page: Any, login: str) -> None:
    """The provider's own pages: its login form, then its consent form."""
    page.wait_for_selector('input[name="login"]', timeout=20_000)
    assert page.url.startswith(f"http://127.0.0.1:{OP_PORT}/"), page.url
    page.fill('input[name="login"]', login)
    page.fill('input[name="password"]', "any password: the provider's development login")
    page.click("button.login-submit")
    page.wait_for_selector("button.login-submit:has-text('Continue')", timeout=20_000)
    page.click("button.login-submit")


def test_a_clinician_signs_in_through_the_hospitals_openid_provider(browser, scheduling):
    auth = scheduling.extensions["waymark_staff_auth"]
    sso = scheduling.extensions["waymark_staff_sso"]
    auth.create_account("zhang.wei", "scheduler", [HOSPITAL], password=None, name="Dr Zhang")
    sso.link(HOSPITAL, "dr-zhang", "zhang.wei")

    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(f"http://127.0.0.1:{APP_PORT}/ui")
    page.wait_for_selector(f"#sso-{HOSPITAL}")
    page.screenshot(path=str(ARTIFACTS / "staff-signin-sso-choice.png"), full_page=True)
    page.click(f"#sso-{HOSPITAL}")
    provider_sign_in(page, "dr-zhang")
    page.wait_for_url(f"http://127.0.0.1:{APP_PORT}/ui", timeout=20_000)
    page.wait_for_selector("#who:has-text('Signed in as zhang.wei (scheduler, bch)')", timeout=20_000)
    page.screenshot(path=str(ARTIFACTS / "scheduler-after-sso.png"), full_page=True)
    session = [c for c in page.context.cookies() if c["name"] == "waymark_session"]
    assert session and session[0]["httpOnly"] and session[0]["secure"] and session[0]["sameSite"] == "Lax"
    stored = auth.sessions.resolve(session[0]["value"])
    assert stored.via == f"oidc:{HOSPITAL}" and stored.hospitals == (HOSPITAL,)
    page.close()


def test_a_provider_subject_without_a_linked_account_gets_no_session(browser, scheduling):
    page = browser.new_page()
    page.goto(f"http://127.0.0.1:{APP_PORT}/staff/sign-in?next=/ui")
    page.click(f"#sso-{HOSPITAL}")
    provider_sign_in(page, "stranger")
    page.wait_for_selector("#problem", timeout=20_000)
    assert "no active Waymark account is linked" in page.inner_text("#problem")
    assert not [c for c in page.context.cookies() if c["name"] == "waymark_session"]
    page.close()


def test_a_scheduler_turns_on_an_authenticator_app_and_then_needs_its_code(browser, scheduling):
    import pyotp

    auth = scheduling.extensions["waymark_staff_auth"]
    password = "scheduler-password-for-totp-e2e"
    auth.create_account("li.na", "scheduler", [HOSPITAL], password=password)
    base = f"http://127.0.0.1:{APP_PORT}"

    def sign_in(page: Any, code: str = "") -> None:
        page.goto(f"{base}/ui")
        page.fill("#username", "li.na")
        page.fill("#password", password)
        page.fill("#code", code)
        page.click("#signin button")

    page = browser.new_page()
    sign_in(page)
    page.wait_for_selector("#who:has-text('Signed in as li.na')")
    page.click("#totp-link")
    secret = page.inner_text("#secret")
    assert page.inner_text("#uri").startswith(f"otpauth://totp/Waymark:li.na?secret={secret}")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("#totp button")
    page.wait_for_selector("#done")
    page.screenshot(path=str(ARTIFACTS / "staff-totp-enrolled.png"), full_page=True)
    page.goto(f"{base}/ui")
    page.click("#signout button")
    page.wait_for_selector("#signin")

    sign_in(page)  # the password alone is no longer enough
    page.wait_for_selector("#problem")
    assert "authenticator code" in page.inner_text("#problem")
    totp = pyotp.TOTP(secret)
    code = totp.at(time.time() + 30)  # the enrolment spent this step's code; the next step's, once due
    time.sleep(max(0.0, 30 - time.time() % 30) + 0.5)
    sign_in(page, code)
    page.wait_for_selector("#who:has-text('Signed in as li.na')")
    page.close()
