"""Exponential backoff with jitter for failed deliveries.

Jitter spreads retries of many deliveries that failed together (a school's webhook
endpoint down for an hour) so they do not all return at the same second.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff_s(
    attempt: int, base_s: float, max_s: float, rand: Callable[[float, float], float] = random.uniform
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): in [ceiling/2, ceiling]."""
    ceiling = min(max_s, base_s * 2 ** max(attempt - 1, 0))
    return rand(ceiling / 2, ceiling)
