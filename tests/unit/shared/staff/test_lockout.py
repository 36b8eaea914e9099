from __future__ import annotations

import threading

from shared.staff.lockout import Lockout


def test_a_name_is_locked_after_max_attempts_until_its_window_ends(auth_db, clock):
    lockout = Lockout(auth_db, max_attempts=3, window_s=600, clock=clock)
    clock.now = 600 * 1000 + 100  # 100 s into a window
    assert all(lockout.claim("dr-wang").allowed for _ in range(3))
    locked = lockout.claim("dr-wang")
    assert not locked.allowed and locked.retry_after_s == 500
    assert lockout.claim("DR-WANG").allowed is False  # the same name, however it is typed
    assert lockout.claim("dr-li").allowed  # per name
    clock.now += 500
    assert lockout.claim("dr-wang").allowed  # the next window


def test_success_forgets_failures_and_unlock_clears_a_lock(auth_db, clock):
    lockout = Lockout(auth_db, max_attempts=2, window_s=600, clock=clock)
    lockout.claim("a1")
    lockout.succeeded("a1")
    assert lockout.claim("a1").allowed and lockout.claim("a1").allowed
    assert not lockout.claim("a1").allowed
    assert lockout.clear("a1") == 2
    assert lockout.claim("a1").allowed


def test_racing_attempts_never_get_more_than_max_slots(auth_db, clock):
    """Every attempt inserts its own slot id; the unique _id lets exactly max_attempts through."""
    lockout = Lockout(auth_db, max_attempts=5, window_s=600, clock=clock)
    results: list[bool] = []
    barrier = threading.Barrier(20)

    def attempt() -> None:
        barrier.wait()
        results.append(lockout.claim("target").allowed)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 5


def test_stale_count_hint_still_claims_the_free_slot(auth_db, clock):
    """The count is only where to start; taken slots are skipped by their unique ids."""
    lockout = Lockout(auth_db, max_attempts=3, window_s=600, clock=clock)
    window = int(clock.now // 600)
    auth_db["staff_sign_in_attempts"].insert_one({"_id": f"x|{window}|1", "key": "other", "window": window})
    assert lockout.claim("x").allowed  # slot 0
    assert lockout.claim("x").allowed  # slot 1 taken by the odd document: slot 2
    assert not lockout.claim("x").allowed
