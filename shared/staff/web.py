"""The sign-in pages every service with pages for staff mounts: sign-in, sign-out, session, TOTP.

:func:`install` adds the routes under ``/staff/`` and makes the app's access checks accept a
signed-in session wherever they accept a staff token (``shared.auth.SESSION_RESOLVER``):

* the session cookie (``waymark_session``) is HttpOnly, SameSite=Lax (it must come along on
  the top-level redirect back from a hospital's OpenID provider; every change is a POST
  with a CSRF token), ``Secure`` unless WAYMARK_COOKIE_SECURE=0 (plain-http demo or dev),
  and lives no longer than the session;
* CSRF: every state-changing request authenticated by the session must carry the session's
  own token (synchronizer pattern: header ``X-CSRF-Token`` from scripts, form field
  ``csrf_token`` from forms; pages read it from ``GET /staff/session``) *and* this site's
  Origin. The sign-in form itself, before any session, uses a double-submit token (a
  ``waymark_signin`` cookie matched by a form field) plus the Origin check, so another site
  cannot sign a browser in to an account of its choosing.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote, urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
)
from flask_smorest import abort
from pymongo.database import Database

from shared.auth import ANY, OPEN, SESSION_RESOLVER, STAFF_ROLES, Policies, Principal, staff
from shared.http import UNSAFE_METHODS, require_same_origin
from shared.settings import Settings
from shared.staff import oidc, totp
from shared.staff.accounts import ROLES
from shared.staff.signin import StaffAuth

SESSION_COOKIE = "waymark_session"
SIGNIN_COOKIE = "waymark_signin"
SSO_COOKIE = "waymark_sso"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
FORMS = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
PAGE_CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
ANYONE_SIGNED_IN = staff(*STAFF_ROLES, scope=ANY)
PERSON = staff(*ROLES, scope=ANY)
POLICIES: Policies = {
    ("GET", "/staff/sign-in"): OPEN,  # the form; no data
    ("POST", "/staff/sign-in"): OPEN,  # checks the password it is given (lockout, CSRF, Origin)
    ("POST", "/staff/sign-out"): OPEN,  # ends the cookie's session, if any (CSRF-checked when there is one)
    ("GET", "/staff/session"): ANYONE_SIGNED_IN,
    ("GET", "/staff/totp"): PERSON,
    ("POST", "/staff/totp"): PERSON,
    ("GET", "/staff/sso/<hospital_id>"): OPEN,  # starts a hospital's OpenID Connect sign-in
    ("GET", "/staff/sso/callback"): OPEN,  # the provider's answer: checked (state, PKCE, ID token)
}
"""Merged into each service's policies by the service that mounts these pages."""


def mount(app: Flask, settings: Settings, auth_db: Database, *, home: str = "/") -> StaffAuth:
    """What a service with staff pages calls: sign-in on ``auth_db`` (the shared auth database),
    with its hospitals' single sign-on from ``settings`` (WAYMARK_OIDC_PROVIDERS)."""
    auth = StaffAuth.for_settings(settings, auth_db)
    providers = oidc.providers_from_json(settings.staff.oidc_providers)
    sso = oidc.SingleSignOn(auth_db, providers, auth) if providers else None
    install(app, auth, secure_cookie=settings.staff.cookie_secure, home=home, sso=sso)
    return auth


def install(
    app: Flask,
    auth: StaffAuth,
    *,
    secure_cookie: bool = True,
    home: str = "/",
    sso: oidc.SingleSignOn | None = None,
) -> None:
    """Mount the pages on ``app`` and let its access checks accept sessions; ``home``: after sign-in."""
    app.extensions[SESSION_RESOLVER] = lambda: _session_principal(auth)
    app.extensions["waymark_staff_auth"] = auth
    if sso is not None:
        app.extensions["waymark_staff_sso"] = sso
    app.register_blueprint(_blueprint(auth, secure_cookie, home))


def _session_principal(auth: StaffAuth) -> Principal | None:
    """The signed-in person's principal; a change must also prove it comes from our page (CSRF)."""
    session = auth.sessions.resolve(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return None
    if request.method in UNSAFE_METHODS:
        require_same_origin(strict=True)
        offered = request.headers.get(CSRF_HEADER)
        if offered is None and request.mimetype in FORMS:
            offered = request.form.get(CSRF_FIELD)
        if not session.csrf_matches(offered):
            abort(403, message="This change needs the page's CSRF token (X-CSRF-Token or csrf_token).")
    g.staff_session = session
    return session.principal()


def safe_next(target: str | None, home: str) -> str:
    """Only a path on this site: never another host (``//evil``, ``https://...``) or a backslash trick."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return home
    parts = urlsplit(target)
    return home if parts.scheme or parts.netloc else target


def signed_in(session_id: str, max_age_s: float, target: str, secure: bool) -> Response:
    """Redirect to ``target`` with the session cookie set (password and single sign-on alike)."""
    response = redirect(target, code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=max(0, int(max_age_s)),
        path="/",
        secure=secure,
        httponly=True,
        samesite="Lax",
    )
    response.delete_cookie(SIGNIN_COOKIE, path="/staff/")
    return response


def _page(template: str, status: int = 200, **context: Any) -> Response:
    response = make_response(render_template(template, **context), status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = PAGE_CSP
    response.headers["Referrer-Policy"] = "same-origin"  # "no-referrer" makes a form's Origin "null"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def _blueprint(auth: StaffAuth, secure_cookie: bool, home: str) -> Blueprint:
    blp = Blueprint("staff_pages", __name__, template_folder="templates")

    def secure() -> bool:
        return secure_cookie or request.is_secure

    def sign_in_form(status: int = 200, problem: str = "", **extra: Any) -> Response:
        csrf = secrets.token_urlsafe(24)
        target = safe_next(request.values.get("next"), home)
        sso = current_app.extensions.get("waymark_staff_sso")
        providers = sso.hospitals() if sso is not None else []
        response = _page(
            "staff/signin.html", status, csrf=csrf, next=target, problem=problem, providers=providers, **extra
        )
        response.set_cookie(
            SIGNIN_COOKIE,
            csrf,
            max_age=3600,
            path="/staff/",
            secure=secure(),
            httponly=True,
            samesite="Strict",
        )
        return response

    @blp.get("/staff/sign-in")
    def sign_in_page() -> Response:
        return sign_in_form()

    @blp.post("/staff/sign-in")
    def sign_in() -> Response:
        require_same_origin(strict=True)
        offered, expected = request.form.get(CSRF_FIELD, ""), request.cookies.get(SIGNIN_COOKIE, "")
        if not expected or not secrets.compare_digest(offered.encode(), expected.encode()):
            return sign_in_form(403, "Your sign-in form had expired; please try again.")
        outcome = auth.sign_in(
            request.form.get("username", ""), request.form.get("password", ""), request.form.get("code", "")
        )
        if outcome.problem == "locked":
            minutes = max(1, round(outcome.retry_after_s / 60))
            response = sign_in_form(429, f"Too many failed attempts: try again in about {minutes} minute(s).")
            response.headers["Retry-After"] = str(outcome.retry_after_s)
            return response
        if not outcome.ok:
            return sign_in_form(401, "The user name, password or authenticator code is not right.")
        target = safe_next(request.form.get("next"), home)
        return signed_in(outcome.session_id, auth.sessions.ttl_s, target, secure())

    @blp.get("/staff/sso/<hospital_id>")
    def sso_start(hospital_id: str) -> Response:
        sso = current_app.extensions.get("waymark_staff_sso")
        if sso is None:
            return sign_in_form(404, "No hospital has single sign-on configured here.")
        try:
            started = sso.begin(
                hospital_id,
                f"{request.host_url}staff/sso/callback",
                safe_next(request.args.get("next"), home),
            )
        except (oidc.SsoError, OSError, ValueError) as exc:
            return sign_in_form(404 if isinstance(exc, oidc.SsoError) else 502, _sso_problem(exc))
        response = redirect(started.url, code=303)
        response.set_cookie(
            SSO_COOKIE, started.state, max_age=oidc.REQUEST_TTL_S, path="/staff/sso/", secure=secure(),
            httponly=True, samesite="Lax",
        )  # fmt: skip
        return response  # type: ignore[return-value]

    @blp.get("/staff/sso/callback")
    def sso_callback() -> Response:
        sso = current_app.extensions.get("waymark_staff_sso")
        if sso is None:
            return sign_in_form(404, "No hospital has single sign-on configured here.")
        if request.args.get("error"):
            return sign_in_form(401, "The hospital's sign-in was cancelled or refused.")
        try:
            outcome, target = sso.finish(
                request.args.get("state", ""), request.args.get("code", ""), request.cookies.get(SSO_COOKIE)
            )
        except (oidc.SsoError, OSError, ValueError) as exc:
            return sign_in_form(401, _sso_problem(exc))
        response = signed_in(outcome.session_id, auth.sessions.ttl_s, safe_next(target, home), secure())
        response.delete_cookie(SSO_COOKIE, path="/staff/sso/")
        return response

    @blp.post("/staff/sign-out")
    def sign_out() -> Response:
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id and auth.sessions.resolve(session_id) is not None:
            _session_principal(auth)  # Origin + CSRF: another site cannot sign people out either
            auth.sign_out(session_id)
        response = redirect(f"/staff/sign-in?next={quote(home)}", code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", secure=secure(), httponly=True, samesite="Lax")
        return response

    @blp.get("/staff/session")
    def who_am_i() -> dict[str, Any]:
        """Who is signed in, and the CSRF token the page sends with each change (sessions only)."""
        principal = g.principal
        session = g.get("staff_session")
        return {
            "username": principal.subject,
            "role": principal.role,
            "hospitals": list(principal.hospitals),
            "expires_at": principal.expires_at,
            "csrf_token": session.csrf if session is not None else None,
            "via": session.via if session is not None else "token",
        }

    _add_totp_routes(blp, auth)
    return blp


def _add_totp_routes(blp: Blueprint, auth: StaffAuth) -> None:
    """Enrolment of the optional second factor: show a new secret, turn it on with a code from it."""

    @blp.get("/staff/totp")
    def totp_page() -> Response:
        session, account = _own_account(auth)
        secret = totp.new_secret()
        return _page(
            "staff/totp.html",
            secret=secret,
            uri=totp.provisioning_uri(secret, account.username),
            csrf=session.csrf,
            enrolled=account.totp_secret is not None,
            problem="",
            done=False,
        )

    @blp.post("/staff/totp")
    def totp_confirm() -> Response:
        session, account = _own_account(auth)
        secret = request.form.get("secret", "")
        if not auth.set_totp(account.username, secret, request.form.get("code", "")):
            return _page(
                "staff/totp.html",
                400,
                secret=secret,
                uri=totp.provisioning_uri(secret, account.username),
                csrf=session.csrf,
                enrolled=account.totp_secret is not None,
                problem="That code does not match; check the app's clock and try the next code.",
                done=False,
            )
        return _page(
            "staff/totp.html", secret="", uri="", csrf=session.csrf, enrolled=True, problem="", done=True
        )


def _sso_problem(exc: Exception) -> str:
    if isinstance(exc, oidc.SsoError):
        return str(exc)
    return "The hospital's sign-in service cannot be reached; please try again shortly."


def _own_account(auth: StaffAuth) -> tuple[Any, Any]:
    session = g.get("staff_session")
    if session is None:
        abort(409, message="A second factor belongs to a signed-in account, not to a token.")
    account = auth.accounts.get(session.username)
    if account is None:
        abort(409, message="This session's account no longer exists.")
    if account.password_hash is None:
        abort(409, message="This account signs in through its hospital's single sign-on.")
    return session, account
