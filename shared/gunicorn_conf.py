"""gunicorn settings for every service API: ``gunicorn -c python:shared.gunicorn_conf services.X.wsgi:app``.

Bind address and worker count come from the environment so ``make stack`` and the
e2e tests can place each service on its own port.
"""

from __future__ import annotations

import os

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


def child_exit(_server: object, worker: object) -> None:
    """Drop a dead worker's live gauges from the multiprocess metrics directory."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
