"""gunicorn target: ``gunicorn -c python:shared.gunicorn_conf services.assessment.wsgi:app``.

Importing this module builds the service; only gunicorn imports it.
"""

from __future__ import annotations

from services.assessment.bootstrap import NAME, build
from shared import logs
from shared.settings import Settings

settings = Settings.from_env(NAME)
logs.configure(NAME, settings.log_level)
app = build(settings).app
