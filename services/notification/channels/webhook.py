"""Signed webhooks to schools: HMAC-SHA256 over ``"<timestamp>.<body>"``.

Header ``X-Waymark-Signature: t=<unix seconds>,v1=<hex digest>``. Receivers recompute
the digest with their secret and reject stale timestamps (replay protection); see
:func:`verify`, which documents the receiver side and is used by the tests.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from services.notification.channels.base import DeliveryError, OutboundMessage

SIGNATURE_HEADER = "X-Waymark-Signature"
RETRYABLE_STATUS = frozenset({408, 425, 429})


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, now: float, tolerance_s: int = 300) -> bool:
    """What a school's receiver does: check the digest in constant time and the timestamp's age."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return abs(now - timestamp) <= tolerance_s and hmac.compare_digest(expected, parts.get("v1", ""))


class WebhookChannel:
    def __init__(self, timeout_s: float = 5.0, now: Callable[[], float] = time.time) -> None:
        self._timeout_s = timeout_s
        self._now = now

    def send(self, message: OutboundMessage) -> str | None:
        if not message.secret:
            raise DeliveryError("no webhook secret", permanent=True)
        if not message.to.startswith(("https://", "http://")):
            raise DeliveryError("webhook url must be http(s)", permanent=True)
        body = message.body.encode()
        request = urllib.request.Request(message.to, data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        request.add_header("User-Agent", "Waymark-Webhooks/1")
        request.add_header("X-Waymark-Delivery", message.delivery_id)
        request.add_header(SIGNATURE_HEADER, sign(message.secret, int(self._now()), body))
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                return f"http {response.status}"
        except urllib.error.HTTPError as exc:
            permanent = 400 <= exc.code < 500 and exc.code not in RETRYABLE_STATUS
            raise DeliveryError(f"http {exc.code}", permanent=permanent) from None
        except (urllib.error.URLError, OSError) as exc:
            raise DeliveryError(f"webhook unreachable: {type(exc).__name__}") from None
