from __future__ import annotations

import pytest

from shared.staff.passwords import MAX_LENGTH, Passwords, WeakPassword
from tests.unit.shared.staff.conftest import CHEAP, PASSWORD


def test_a_password_is_stored_as_an_argon2id_hash_that_verifies_only_itself():
    hashed = CHEAP.hash(PASSWORD)
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed
    assert CHEAP.verify(hashed, PASSWORD)
    assert not CHEAP.verify(hashed, PASSWORD + "!")
    assert CHEAP.hash(PASSWORD) != hashed  # salted


def test_no_stored_hash_never_verifies():
    assert not CHEAP.verify(None, "waymark-no-such-account")
    assert not CHEAP.verify("not-a-hash", PASSWORD)


@pytest.mark.parametrize("password", ["short", "x" * (MAX_LENGTH + 1)])
def test_too_short_or_too_long_passwords_are_refused(password):
    with pytest.raises(WeakPassword):
        CHEAP.hash(password)


def test_stronger_parameters_ask_for_a_rehash():
    weak = CHEAP.hash(PASSWORD)
    assert Passwords(time_cost=2, memory_cost_kib=16, parallelism=1).needs_rehash(weak)
    assert not CHEAP.needs_rehash(weak)
