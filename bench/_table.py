"""Timing, statistics and table helpers shared by the benchmarks."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence


def median_seconds(
    run: Callable[[], object], repeats: int = 5, setup: Callable[[], object] | None = None
) -> float:
    """Median wall time of ``run`` over ``repeats`` runs, each after a fresh ``setup``."""
    times = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by nearest rank: a value that was really observed.

    Nearest rank, not interpolation, so a p99 of 50 samples is honestly the worst one.
    """
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def growth_exponent(size_a: float, seconds_a: float, size_b: float, seconds_b: float) -> float:
    """Slope of log(time) against log(size) between two sizes: 0 flat, 1 linear, 2 quadratic."""
    if min(size_a, size_b, seconds_a, seconds_b) <= 0 or size_a == size_b:
        return math.nan
    return math.log(seconds_b / seconds_a) / math.log(size_b / size_a)


def ratio(value: float, baseline: float) -> str:
    """``value / baseline`` as ``0.041x``; a dash when either side is missing."""
    if not baseline or math.isnan(baseline) or math.isnan(value):
        return "-"
    return f"{value / baseline:.3f}x"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in headers], *[[_fmt(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print(
            "  ".join(
                c.rjust(w) if n and i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print(flush=True)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.3f}" if value < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
