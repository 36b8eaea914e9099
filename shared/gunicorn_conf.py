"""gunicorn settings for every service API: ``gunicorn -c python:shared.gunicorn_conf services.X.wsgi:app``.

Bind address and worker count come from the environment so ``make stack`` and the
e2e tests can place each service on its own port.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

from prometheus_client import multiprocess

from shared.settings import DEFAULT_API_WORKERS

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", DEFAULT_API_WORKERS))  # = Settings.api_workers
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = 30
graceful_timeout = 20
accesslog = None  # the app logs requests as JSON; gunicorn's text log would duplicate them
errorlog = "-"
loglevel = os.environ.get("WAYMARK_LOG_LEVEL", "info").lower()
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def child_exit(_server: object, worker: object) -> None:
    """Drop a dead worker's live gauges from the multiprocess metrics directory."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]


def post_fork(server: object, _worker: object) -> None:
    """Make each worker die with its master, so a restarted master can bind the port at once.

    A master killed with SIGKILL cannot stop its workers; they lingered, holding the
    listening socket while no longer serving, and the supervisor's new master could not
    bind for about two minutes. Linux delivers PR_SET_PDEATHSIG's signal to the worker
    the moment its parent dies. SIGKILL, not SIGTERM: the requests in flight are lost with
    the master anyway, and the port must be free before the supervisor restarts it.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        server.log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %s", ctypes.get_errno())  # type: ignore[attr-defined]
    if os.getppid() != server.pid:  # type: ignore[attr-defined]  # the master died before prctl took effect
        os._exit(1)
