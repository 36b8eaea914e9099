"""Per-request checks without the store: the API-key cache and the in-memory rate limit, with their bounds."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import pytest

from services.referral.bootstrap import build
from services.referral.callers import CallerCache
from services.referral.config import ReferralConfig
from services.referral.keys import SchoolCaller, create_school_key
from services.referral.ratelimit import WINDOW_S, RateLimiter, per_worker
from shared.auth import hash_key
from shared.settings import Settings
from tests.support.secrets_env import TEST_SECRETS

KEY = "wm_school_abc"
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class Lookups:
    """A key table that counts how often it is read (each read is a store round trip)."""

    def __init__(self) -> None:
        self.active = {hash_key(KEY): SchoolCaller("school-a", "key_1")}
        self.reads = 0

    def __call__(self, digest: str) -> SchoolCaller | None:
        self.reads += 1
        return self.active.get(digest)


class Seconds:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestCallerCache:
    def test_a_key_is_read_once_per_ttl_and_revocation_lands_within_it(self):
        lookups, now = Lookups(), Seconds()
        cache = CallerCache(lookups, ttl_s=30, now=now)
        assert cache.caller(KEY) == SchoolCaller("school-a", "key_1")
        lookups.active.clear()  # revoked in the store
        now.now += 29.9
        assert cache.caller(KEY) == SchoolCaller("school-a", "key_1") and lookups.reads == 1
        now.now += 0.1
        assert cache.caller(KEY) is None and lookups.reads == 2

    def test_unknown_keys_are_remembered_too(self):
        lookups, now = Lookups(), Seconds()
        cache = CallerCache(lookups, ttl_s=30, now=now)
        for _ in range(5):
            assert cache.caller("wm_school_revoked") is None
        assert lookups.reads == 1

    def test_malformed_keys_never_reach_the_store(self):
        lookups = Lookups()
        cache = CallerCache(lookups, ttl_s=30, now=Seconds())
        assert cache.caller("not-a-school-key") is None
        assert cache.caller("wm_school_" + "x" * 200) is None
        assert lookups.reads == 0

    def test_ttl_zero_reads_every_time(self):
        lookups = Lookups()
        cache = CallerCache(lookups, ttl_s=0, now=Seconds())
        cache.caller(KEY)
        cache.caller(KEY)
        assert lookups.reads == 2 and len(cache) == 0

    def test_memory_is_bounded_oldest_dropped_first(self):
        lookups = Lookups()
        cache = CallerCache(lookups, ttl_s=30, now=Seconds(), max_entries=3)
        cache.caller(KEY)
        for n in range(3):
            cache.caller(f"wm_school_random{n}")
        assert len(cache) == 3
        cache.caller(KEY)
        assert lookups.reads == 5  # KEY was evicted, so read again

    def test_forget_drops_a_revoked_key_in_this_process(self):
        lookups = Lookups()
        cache = CallerCache(lookups, ttl_s=30, now=Seconds())
        cache.caller(KEY)
        lookups.active.clear()
        cache.forget("key_1")
        assert cache.caller(KEY) is None


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def at(self, seconds: float) -> None:
        self.now = START + timedelta(seconds=seconds)


class TestRateLimiter:
    def test_each_worker_allows_its_share_of_the_limit(self):
        assert per_worker(120, 2) == 60
        assert per_worker(5, 2) == 3  # rounded up: a key may get limit + workers - 1 across the API
        assert per_worker(3, 1) == 3
        assert RateLimiter(120, 4, Clock()).allowance == 30

    def test_the_window_slides_no_double_burst_at_a_minute_edge(self):
        clock = Clock()
        limiter = RateLimiter(3, 1, clock)
        for t in (58, 59, 59.5):
            clock.at(t)
            assert limiter.hit("k").allowed
        clock.at(60.5)  # a fixed window would start afresh here and allow 3 more
        denied = limiter.hit("k")
        assert not denied.allowed and denied.retry_after_s == 58  # 58 + 60 - 60.5, rounded up
        clock.at(118)  # the request at 58 has left the window
        assert limiter.hit("k").allowed
        assert not limiter.hit("k").allowed

    def test_refused_requests_do_not_extend_the_wait(self):
        clock = Clock()
        limiter = RateLimiter(1, 1, clock)
        assert limiter.hit("k").allowed
        for t in range(1, 60):
            clock.at(t)
            assert not limiter.hit("k").allowed
        clock.at(60)
        assert limiter.hit("k").allowed

    def test_headers_count_down_and_keys_are_independent(self):
        limiter = RateLimiter(2, 1, Clock())
        assert [limiter.hit("a").remaining, limiter.hit("a").remaining] == [1, 0]
        assert limiter.hit("b").allowed

    @pytest.mark.parametrize("seed", range(5))
    def test_never_more_than_the_allowance_in_any_60_seconds(self, seed):
        rng = random.Random(seed)
        clock = Clock()
        limiter = RateLimiter(7, 1, clock)
        times = sorted(rng.uniform(0, 600) for _ in range(400))
        accepted = []
        for t in times:
            clock.at(t)
            if limiter.hit("k").allowed:
                accepted.append(t)
        for start in accepted:  # any 60 s interval holding accepted requests starts at one of them
            assert sum(start <= t < start + WINDOW_S for t in accepted) <= 7
        assert len(accepted) >= 7 * 9  # and it does let the allowance through, minute after minute

    def test_concurrent_threads_of_a_worker_never_exceed_it(self):
        limiter = RateLimiter(30, 1, Clock())  # the clock stands still: one window
        allowed: list[bool] = []
        lock = threading.Lock()

        def burst() -> None:
            mine = [limiter.hit("k").allowed for _ in range(20)]
            with lock:
                allowed.extend(mine)

        threads = [threading.Thread(target=burst) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(allowed) == 30

    def test_idle_keys_are_forgotten(self):
        clock = Clock()
        limiter = RateLimiter(5, 1, clock)
        for n in range(50):
            limiter.hit(f"key-{n}")
        assert limiter.tracked_keys() == 50
        clock.at(WINDOW_S + 1)
        limiter.hit("key-0")
        assert limiter.tracked_keys() == 1


class TestConfiguration:
    def test_the_rate_limit_is_divided_among_gunicorn_workers(self):
        env = {
            "WAYMARK_MODE": "kafka",
            **TEST_SECRETS,
            "GUNICORN_WORKERS": "3",
            "REFERRAL_RATE_LIMIT_PER_MINUTE": "100",
        }
        config = ReferralConfig.from_settings(Settings.from_env("referral", env))
        assert (config.api_workers, config.rate_limit_per_minute) == (3, 100)
        embedded = Settings.from_env("referral", {"GUNICORN_WORKERS": "3"})
        assert embedded.api_workers == 1  # one process serves every API

    def test_defaults_and_overrides(self):
        defaults = ReferralConfig.from_settings(
            Settings.from_env("referral", {"WAYMARK_MODE": "kafka", **TEST_SECRETS})
        )
        assert defaults.api_workers == 2 and defaults.key_cache_s == 30
        assert defaults.idempotency_window == timedelta(hours=24) and not defaults.allow_http_webhooks
        env = {"REFERRAL_KEY_CACHE_S": "5", "REFERRAL_IDEMPOTENCY_HOURS": "48"}
        custom = ReferralConfig.from_settings(Settings.from_env("referral", env))
        assert custom.key_cache_s == 5 and custom.idempotency_window == timedelta(hours=48)

    def test_two_workers_share_the_limit_per_key(self, db):
        """What a client sees from a two-worker API: each worker answers 429 after its half."""
        settings = Settings(service="referral", api_workers=2, extra={"REFERRAL_RATE_LIMIT_PER_MINUTE": "4"})
        headers = {"Authorization": f"Bearer {create_school_key(db, 'school-a', 'A').key}"}
        workers = [build(settings, db=db).app.test_client() for _ in range(2)]
        codes = [workers[n % 2].get("/v1/referrals", headers=headers).status_code for n in range(6)]
        assert codes == [200, 200, 200, 200, 429, 429]
        assert workers[0].get("/v1/referrals", headers=headers).headers["X-RateLimit-Limit"] == "2"
