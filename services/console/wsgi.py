"""gunicorn target: ``gunicorn -c python:shared.gunicorn_conf services.console.wsgi:app``."""

from __future__ import annotations

from services.console.bootstrap import NAME, build
from shared import logs
from shared.settings import Settings


def create_app() -> object:
    settings = Settings.from_env(NAME)
    logs.configure(NAME, settings.log_level)
    return build(settings)


app = create_app()
