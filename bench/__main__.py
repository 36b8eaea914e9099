"""``python -m bench [--quick] [NAME ...]``: run every benchmark module in bench/, or the ones named.

Each module has ``main(quick: bool)`` and prints its tables on stdout. ``--quick`` runs
each with small sizes and short durations: a smoke test that the benchmark still works,
not figures to quote. ``--list`` prints the names and what each measures.
Modules that need Kafka + FerretDB (deploy/infra.sh start) say so and skip when absent.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from shared import secret_keys

ORDER = (
    "messaging",
    "pipeline",
    "rebalance",
    "referral_api",
    "latency",
    "waitlist_scale",
    "scheduling_optimiser",
)
"""Quickest and most basic first; a module not listed runs after these, by name."""


def available() -> list[str]:
    here = Path(__file__).parent
    found = [m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_")]
    return sorted(found, key=lambda name: (ORDER.index(name) if name in ORDER else len(ORDER), name))


def main(argv: Sequence[str]) -> int:
    names = available()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of: {', '.join(names)}")
    parser.add_argument("--quick", action="store_true", help="small sizes, short runs (smoke test)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in names]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(names)}")
    if args.list:
        for name in names:
            doc = (importlib.import_module(f"bench.{name}").__doc__ or "").strip().splitlines()
            print(f"{name:24} {doc[0] if doc else ''}")
        return 0
    # Every process a benchmark starts in kafka mode needs real secrets (shared/secret_keys.py):
    # one fresh set per run, unless the caller exported its own.
    os.environ.update({k: v for k, v in secret_keys.generate().items() if k not in os.environ})
    for name in args.names or names:
        started = time.monotonic()
        print(f"\n=== bench.{name}{' (quick)' if args.quick else ''} ===", flush=True)
        importlib.import_module(f"bench.{name}").main(quick=args.quick)
        print(f"(bench.{name} took {time.monotonic() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
