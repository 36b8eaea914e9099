"""Explicit test secrets for everything that runs in kafka mode (shared/secret_keys.py refuses defaults).

One place, so a new required secret is added to every integration, e2e and bench run at once.
These values are public and for tests only.
"""

from __future__ import annotations

import os
from typing import Any

from shared.settings import KAFKA, Settings

TEST_SECRETS: dict[str, str] = {
    "WAYMARK_STAFF_TOKEN_SECRET": "test-only-staff-token-secret-0123456789abcdef",
    "REFERRAL_DATA_KEYS": "dGVzdC1vbmx5LWRhdGEta2V5LTAxMjM0NTY3ODlhYmM=",
    "REFERRAL_INDEX_KEY": "test-only-referral-blind-index-key-0123456789",
    "SCHEDULING_OFFER_SECRET": "test-only-scheduling-offer-secret-0123456789",
}


def kafka_settings(service: str, **fields: Any) -> Settings:
    """``Settings`` for ``service`` in kafka mode with the test secrets (``extra`` is merged, not replaced)."""
    secrets = {k: v for k, v in TEST_SECRETS.items() if k != "WAYMARK_STAFF_TOKEN_SECRET"}
    extra = secrets | dict(fields.pop("extra", {}))
    fields.setdefault("staff_token_secret", TEST_SECRETS["WAYMARK_STAFF_TOKEN_SECRET"])
    # The broker of this run's port block (as tests/conftest.py), not the default port: publishing
    # right after a write would otherwise wait for a broker that is not there on every write.
    port = os.environ.get("KAFKA_PORT", "19092")
    fields.setdefault("kafka_bootstrap", os.environ.get("KAFKA_BOOTSTRAP", f"127.0.0.1:{port}"))
    return Settings(service=service, mode=KAFKA, extra=extra, **fields)
