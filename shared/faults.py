"""Crash points for tests that prove recovery: a process dies exactly between two writes.

``WAYMARK_FAULTS`` names the points (comma-separated) at which the process calls
``os._exit(FAULT_EXIT)``: no ``finally``, no commit, no flush — what kill -9 does, but at a
chosen line. Unset (always, outside those tests) it costs one dictionary lookup. Only
integration tests set it; nothing in ``deploy/`` does.
"""

from __future__ import annotations

import os

FAULT_EXIT = 86
ENV = "WAYMARK_FAULTS"


def crash_point(name: str) -> None:
    """Die here, at once, if this point is armed in the environment."""
    armed = os.environ.get(ENV)
    if armed and name in armed.split(","):
        os._exit(FAULT_EXIT)
