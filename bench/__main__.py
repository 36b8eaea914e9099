"""Run every benchmark module in bench/ (each has ``main()``), or only those named on the command line."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(names: list[str]) -> int:
    here = Path(__file__).parent
    modules = [m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_")]
    for name in names or sorted(modules):
        print(f"\n=== bench.{name} ===", flush=True)
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
