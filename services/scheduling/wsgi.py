"""gunicorn target: ``gunicorn services.scheduling.wsgi:app`` (the worker process runs the duties)."""

from __future__ import annotations

from flask import Flask

from services.scheduling.bootstrap import build
from shared import logs
from shared.settings import Settings


def create() -> Flask:
    settings = Settings.from_env("scheduling")
    logs.configure(settings.service, settings.log_level)
    return build(settings, run_duties=False).app


app = create()
