from __future__ import annotations

import io
import json

from services.cli import _parser
from services.staff_cli import run
from tests.unit.shared.staff.conftest import PASSWORD


def cli(auth, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    import contextlib
    import sys

    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run(_parser().parse_args(["staff", *argv]), auth)
    finally:
        sys.stdin = old
    return code, out.getvalue(), err.getvalue()


def test_create_prints_a_generated_password_once_that_signs_in(auth):
    code, out, _ = cli(auth, "create", "dr-wang", "clinician", "--hospital", "bch", "--name", "Dr Wang")
    assert code == 0 and "created dr-wang (clinician, hospitals bch)" in out
    password = out.split("hand it over safely): ")[1].strip()
    assert auth.sign_in("dr-wang", password).ok


def test_create_with_a_password_on_stdin_list_and_disable(auth):
    assert cli(auth, "create", "op", "operator", "--password-stdin", stdin=PASSWORD + "\n")[0] == 0
    session = auth.sign_in("op", PASSWORD)
    code, out, _ = cli(auth, "list")
    assert code == 0 and json.loads(out) == {
        "username": "op", "name": "", "role": "operator", "hospitals": ["*"], "disabled": False, "totp": False
    }  # fmt: skip
    assert cli(auth, "disable", "op")[1].strip() == "disabled op; ended 1 session(s)"
    assert auth.sessions.resolve(session.session_id) is None
    assert json.loads(cli(auth, "list")[1])["disabled"] is True


def test_mistakes_are_errors_not_tracebacks(auth):
    cli(auth, "create", "op", "operator", "--password-stdin", stdin=PASSWORD)
    code, _, err = cli(auth, "create", "op", "operator", "--password-stdin", stdin=PASSWORD)
    assert code == 1 and "exists already" in err
    assert cli(auth, "create", "x2", "operator", "--password-stdin", stdin="short")[0] == 1
    assert cli(auth, "disable", "nobody")[0] == 1


def test_unlock_clears_a_lockout(auth):
    cli(auth, "create", "op", "operator", "--password-stdin", stdin=PASSWORD)
    for _ in range(4):
        auth.sign_in("op", "wrong password!!")
    assert auth.sign_in("op", PASSWORD).problem == "locked"
    assert cli(auth, "unlock", "op")[0] == 0
    assert auth.sign_in("op", PASSWORD).ok


def test_the_embedded_mode_refuses_with_a_reason(monkeypatch):
    monkeypatch.setenv("WAYMARK_MODE", "embedded")
    code, _, err = cli(None, "list")
    assert code == 2 and "WAYMARK_MODE=kafka" in err


def test_an_sso_account_has_no_password_and_is_linked_to_its_hospitals_subject(auth):
    code, out, err = cli(
        auth, "create", "zhang.wei", "clinician", "--hospital", "bch", "--sso-subject", "u-42"
    )
    assert code == 0, err
    assert "signs in through bch's OpenID provider as subject u-42" in out and "password" not in out
    assert auth.accounts.get("zhang.wei").password_hash is None
    assert (
        auth.accounts.collection.database["staff_sso_links"].find_one({"_id": "bch|u-42"})["username"]
        == "zhang.wei"
    )
    assert auth.sign_in("zhang.wei", "").problem == "refused"
    two = cli(
        auth, "create", "li.na", "clinician", "--hospital", "bch", "--hospital", "hdm", "--sso-subject", "u-7"
    )
    assert two[0] == 1 and "exactly one --hospital" in two[2]
    again = cli(auth, "create", "wang.fang", "clinician", "--hospital", "bch", "--sso-subject", "u-42")
    assert again[0] == 1 and "linked to an account already" in again[2]
