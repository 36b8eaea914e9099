"""``python -m services.referral.worker``: sweep the case outbox and consume other services' events."""

from __future__ import annotations

from services.referral.bootstrap import build
from shared import logs
from shared.runtime import serve_worker
from shared.settings import Settings


def main() -> None:
    settings = Settings.from_env("referral")
    logs.configure("referral", settings.log_level)
    serve_worker(build(settings))


if __name__ == "__main__":
    main()
