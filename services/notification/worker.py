"""``python -m services.notification.worker``: consumer, outbox sweeper and reminder scheduler.

The scheduler is the Service's background duty, so shared.runtime runs it on a
thread next to the outbox sweeper, while this worker holds the service's duty lease
(shared.leadership), until SIGTERM.
"""

from __future__ import annotations

from services.notification.bootstrap import NAME, build
from shared import logs
from shared.runtime import serve_worker
from shared.settings import Settings


def main() -> None:
    settings = Settings.from_env(NAME)
    logs.configure(NAME, settings.log_level)
    serve_worker(build(settings))


if __name__ == "__main__":
    main()
