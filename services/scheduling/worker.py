"""``python -m services.scheduling.worker``: outbox sweeper, event consumer and periodic duties."""

from __future__ import annotations

from services.scheduling.bootstrap import build
from shared import logs
from shared.runtime import serve_worker
from shared.settings import Settings


def main() -> None:
    settings = Settings.from_env("scheduling")
    logs.configure(settings.service, settings.log_level)
    serve_worker(build(settings))


if __name__ == "__main__":
    main()
