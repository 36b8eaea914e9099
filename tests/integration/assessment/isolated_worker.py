"""``python -m tests.integration.assessment.isolated_worker``: the assessment worker under a test's own names.

``python -m services.assessment.worker`` always runs as ``assessment`` (consumer group,
output topic ``waymark.assessment.events``) on the shared referral and scheduling
topics, so two test runs on one broker would read each other's events. This runs the
same composition — ``Settings.from_env("assessment")``, ``bootstrap.build`` and
``shared.runtime.serve_worker`` (relay thread, consumer on the main thread, SIGTERM) —
renamed to ``WAYMARK_IT_SERVICE`` and subscribed to ``WAYMARK_IT_CONSUMES`` only.
"""

from __future__ import annotations

import dataclasses
import os

from services.assessment.bootstrap import NAME, build
from shared import logs
from shared.runtime import serve_worker
from shared.settings import Settings


def main() -> None:
    settings = Settings.from_env(NAME).but(service=os.environ["WAYMARK_IT_SERVICE"])
    logs.configure(settings.service, settings.log_level)
    service = build(settings)
    serve_worker(dataclasses.replace(service, consumes=os.environ["WAYMARK_IT_CONSUMES"].split(",")))


if __name__ == "__main__":
    main()
