"""gunicorn target: ``gunicorn -c shared/gunicorn_conf.py services.referral.wsgi:app``."""

from __future__ import annotations

from services.referral.bootstrap import build
from shared import logs
from shared.settings import Settings


def _app():  # noqa: ANN202 - the Flask app gunicorn serves
    settings = Settings.from_env("referral")
    logs.configure("referral", settings.log_level)
    return build(settings).app


app = _app()
