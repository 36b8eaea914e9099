"""The per-key rate limit holds under concurrency on FerretDB (where $inc would lose counts)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from services.referral.ratelimit import RateLimiter

LIMIT, CALLERS, HITS_EACH = 30, 8, 10


def test_concurrent_requests_never_exceed_the_limit(mongo_db):
    frozen = datetime(2026, 11, 23, 9, 0, 30, tzinfo=UTC)  # one window for the whole test
    limiters = [RateLimiter(mongo_db, LIMIT, lambda: frozen) for _ in range(CALLERS)]

    def burst(limiter: RateLimiter) -> int:
        return sum(limiter.hit("key-1").allowed for _ in range(HITS_EACH))

    with ThreadPoolExecutor(CALLERS) as pool:
        allowed = sum(pool.map(burst, limiters))
    assert mongo_db.rate_limits.count_documents({"key_id": "key-1"}) == CALLERS * HITS_EACH  # none lost
    assert LIMIT - CALLERS <= allowed <= LIMIT
