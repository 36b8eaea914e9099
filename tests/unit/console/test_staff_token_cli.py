"""``waymark staff-token``: issue prints an expiring token and its id; revoke goes through the console."""

from __future__ import annotations

import threading

import mongomock
import pytest
from werkzeug.serving import make_server

from services import cli
from services.console.bootstrap import build
from shared.auth import StaffTokens
from shared.settings import Settings


@pytest.fixture
def console_url():
    app = build(Settings(service="console"), urls={}, auth_db=mongomock.MongoClient()["waymark_auth"])
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", app
    server.shutdown()


def issue(capsys, *args: str) -> tuple[str, str]:
    assert cli.main(["staff-token", "issue", *args]) == 0
    described, token = capsys.readouterr().out.strip().splitlines()
    return described, token


def test_issue_prints_a_scoped_token_that_expires(capsys):
    described, token = issue(capsys, "dr-wu", "scheduler", "--hospital", "bch", "--hours", "8")
    principal = StaffTokens(Settings.staff_token_secret).verify(token)
    assert principal is not None and principal.hospitals == ("bch",) and principal.role == "scheduler"
    assert f"token id {principal.token_id}" in described and "expires" in described


@pytest.mark.parametrize("by", ["token", "id"])
def test_revoke_by_token_or_id_makes_the_console_refuse_it(capsys, console_url, by):
    url, app = console_url
    _, token = issue(capsys, "op-2", "operator")
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    assert client.get("/api/overview", headers=headers).status_code == 200
    token_id = StaffTokens(Settings.staff_token_secret).decode(token).token_id
    assert (
        cli.main(["staff-token", "--console-url", url, "revoke", token if by == "token" else token_id]) == 0
    )
    assert f"revoked {token_id}" in capsys.readouterr().out
    assert client.get("/api/overview", headers=headers).status_code == 401


def test_revoke_reports_a_console_refusal(capsys, console_url):
    url, _ = console_url
    assert cli.main(["staff-token", "--console-url", url, "revoke", "not.a.token"]) == 1
    assert "error 422" in capsys.readouterr().err
