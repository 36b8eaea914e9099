"""gunicorn target: ``gunicorn -c python:shared.gunicorn_conf services.notification.wsgi:app``.

The API process only serves the delivery log; sending, reminders and the outbox sweeper
run in the worker (``python -m services.notification.worker``).
"""

from __future__ import annotations

from services.notification.bootstrap import NAME, build
from shared import logs
from shared.settings import Settings


def create() -> object:
    settings = Settings.from_env(NAME)
    logs.configure(NAME, settings.log_level)
    return build(settings).app


app = create()
