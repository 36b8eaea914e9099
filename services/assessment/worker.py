"""``python -m services.assessment.worker``: sweeps the outbox and consumes referral and scheduling events."""

from __future__ import annotations

from services.assessment.bootstrap import NAME, build
from shared import logs
from shared.runtime import serve_worker
from shared.settings import Settings


def main() -> None:
    settings = Settings.from_env(NAME)
    logs.configure(NAME, settings.log_level)
    serve_worker(build(settings))


if __name__ == "__main__":
    main()
