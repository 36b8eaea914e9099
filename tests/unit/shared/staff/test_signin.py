from __future__ import annotations

import pyotp
import pytest

from shared.auth import Principal
from shared.staff.accounts import AccountExists
from tests.unit.shared.staff.conftest import PASSWORD


def test_a_person_signs_in_and_gets_the_principal_a_token_would_give(auth):
    auth.create_account("dr-wang", "clinician", ["bch"], password=PASSWORD, name="Dr Wang")
    outcome = auth.sign_in(" DR-Wang ", PASSWORD)
    assert outcome.ok
    principal = auth.sessions.resolve(outcome.session_id).principal()
    assert isinstance(principal, Principal)
    assert (principal.kind, principal.subject, principal.role, principal.hospitals) == (
        "staff", "dr-wang", "clinician", ("bch",)
    )  # fmt: skip
    assert principal.can_act_for("bch") and not principal.can_act_for("hdm")


def test_the_store_keeps_only_hashes(auth, auth_db):
    auth.create_account("dr-wang", "clinician", ["bch"], password=PASSWORD)
    outcome = auth.sign_in("dr-wang", PASSWORD)
    dump = repr(list(auth_db["staff_accounts"].find())) + repr(list(auth_db["staff_sessions"].find()))
    assert PASSWORD not in dump and outcome.session_id not in dump


@pytest.mark.parametrize("who", ["nobody", "dr-wang"])
def test_unknown_names_and_wrong_passwords_get_one_answer(auth, who):
    auth.create_account("dr-wang", "clinician", ["bch"], password=PASSWORD)
    assert auth.sign_in(who, "wrong password!!").problem == "refused"


def test_repeated_failures_lock_the_account_even_for_the_right_password(auth, clock):
    auth.create_account("dr-wang", "clinician", ["bch"], password=PASSWORD)
    for _ in range(3):
        assert auth.sign_in("dr-wang", "wrong password!!").problem == "refused"
    locked = auth.sign_in("dr-wang", PASSWORD)
    assert locked.problem == "locked" and locked.retry_after_s > 0
    clock.now += locked.retry_after_s
    assert auth.sign_in("dr-wang", PASSWORD).ok


def test_sessions_expire_and_sign_out_ends_them(auth, clock):
    auth.create_account("op", "operator", ["*"], password=PASSWORD)
    first, second = auth.sign_in("op", PASSWORD), auth.sign_in("op", PASSWORD)
    auth.sign_out(first.session_id)
    assert auth.sessions.resolve(first.session_id) is None
    assert auth.sessions.resolve(second.session_id) is not None
    clock.now += 3600
    assert auth.sessions.resolve(second.session_id) is None
    assert auth.sessions.resolve("not-a-session") is None and auth.sessions.resolve("") is None


def test_disabling_an_account_ends_its_sessions_and_refuses_sign_in(auth):
    auth.create_account("sched", "scheduler", ["bch"], password=PASSWORD)
    live = auth.sign_in("sched", PASSWORD)
    assert auth.disable("sched") == 1
    assert auth.sessions.resolve(live.session_id) is None
    assert auth.sign_in("sched", PASSWORD).problem == "refused"
    auth.enable("sched")
    assert auth.sign_in("sched", PASSWORD).ok


def test_a_sign_in_racing_a_disable_keeps_no_session(auth):
    """The disable lands between the password check and the session insert: the re-read catches it."""
    account = auth.accounts.create("sched", "scheduler", ["bch"], password_hash=None)
    auth.accounts.set_disabled("sched", True)
    outcome = auth.start_session(account, via="password")
    assert not outcome.ok and auth.sessions.collection.count_documents({}) == 0


def test_names_are_unique_and_validated(auth):
    auth.create_account("dr-wang", "clinician", ["bch"], password=PASSWORD)
    with pytest.raises(AccountExists):
        auth.create_account("dr-wang", "scheduler", ["*"], password=PASSWORD)
    for bad in (
        ("Bad Name", "clinician", ["bch"]),
        ("ok-name", "root", ["bch"]),
        ("ok-name", "clinician", []),
    ):
        with pytest.raises(ValueError):
            auth.create_account(*bad, password=PASSWORD)


def test_listing_is_a_bounded_keyset_without_secrets(auth):
    for n in range(5):
        auth.create_account(f"user-{n}", "scheduler", ["bch" if n % 2 else "hdm"], password=PASSWORD)
    first = auth.accounts.list(limit=2)
    assert [a.username for a in first] == ["user-0", "user-1"]
    assert [a.username for a in auth.accounts.list(after="user-1", limit=10)] == [
        "user-2",
        "user-3",
        "user-4",
    ]
    assert [a.username for a in auth.accounts.list(hospital="bch")] == ["user-1", "user-3"]
    assert "password_hash" not in first[0].public() and first[0].public()["totp"] is False


def test_totp_is_needed_once_enrolled_and_each_code_works_once(auth, clock):
    auth.create_account("dr-li", "clinician", ["bch"], password=PASSWORD)
    secret = pyotp.random_base32()
    code = pyotp.TOTP(secret).at(clock.now)
    assert not auth.set_totp("dr-li", secret, "000000" if code != "000000" else "111111")
    assert auth.set_totp("dr-li", secret, code)
    assert auth.sign_in("dr-li", PASSWORD).problem == "refused"  # no code
    clock.now += 30
    fresh = pyotp.TOTP(secret).at(clock.now)
    assert auth.sign_in("dr-li", PASSWORD, fresh).ok
    assert auth.sign_in("dr-li", PASSWORD, fresh).problem == "refused"  # replayed
    clock.now += 30
    assert auth.sign_in("dr-li", PASSWORD, pyotp.TOTP(secret).at(clock.now - 30)).problem == "refused"  # used
