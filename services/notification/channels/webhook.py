"""Signed webhooks to schools: HMAC-SHA256 over ``"<timestamp>.<body>"``.

Header ``X-Waymark-Signature: t=<unix seconds>,v1=<hex digest>``. Receivers recompute
the digest with their secret and reject stale timestamps (replay protection); see
:func:`verify`, which documents the receiver side and is used by the tests.

The URL was chosen by a school, so every delivery is an SSRF risk: the host is resolved
once, every address is checked (shared/url_safety.py: no loopback unless ``allow_loopback``,
no private, link-local/metadata or reserved address), and the connection goes to a checked
address (TLS still verifies the certificate for the URL's host name). Redirects are never
followed. A refused URL is a permanent failure.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import socket
import ssl
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from services.notification.channels.base import DeliveryError, OutboundMessage
from shared.url_safety import Resolver, UnsafeURL, check_url, resolve_public, system_resolver

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


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to an address already checked, whatever the Host header says."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to a checked address, verifying the certificate (and SNI) for the URL's host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._ssl_context = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._ssl_context.wrap_socket(sock, server_hostname=self.host)


class WebhookChannel:
    def __init__(
        self,
        timeout_s: float = 5.0,
        now: Callable[[], float] = time.time,
        *,
        allow_loopback: bool = False,
        resolver: Resolver = system_resolver,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._timeout_s = timeout_s
        self._now = now
        self._allow_loopback = allow_loopback
        self._resolver = resolver
        self._tls = tls or ssl.create_default_context()

    def send(self, message: OutboundMessage) -> str | None:
        if not message.secret:
            raise DeliveryError("no webhook secret", permanent=True)
        if not message.to.startswith(("https://", "http://")):
            raise DeliveryError("webhook url must be http(s)", permanent=True)
        body = message.body.encode()
        parts = urlsplit(message.to)
        try:
            # http:// was refused at registration outside dev; here only the target is judged.
            host = check_url(message.to, allow_http=True, allow_loopback=self._allow_loopback)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            addresses = resolve_public(
                host, port, allow_loopback=self._allow_loopback, resolver=self._resolver
            )
        except UnsafeURL as exc:
            raise DeliveryError(f"webhook target not allowed: {exc}", permanent=True) from None
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Waymark-Webhooks/1",
            "X-Waymark-Delivery": message.delivery_id,
            SIGNATURE_HEADER: sign(message.secret, int(self._now()), body),
        }
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection = (
            _PinnedHTTPSConnection(host, port, str(addresses[0]), self._timeout_s, self._tls)
            if parts.scheme == "https"
            else _PinnedHTTPConnection(host, port, str(addresses[0]), self._timeout_s)
        )
        try:
            connection.request("POST", path, body=body, headers=headers)
            status = connection.getresponse().status
        except (OSError, http.client.HTTPException) as exc:
            raise DeliveryError(f"webhook unreachable: {type(exc).__name__}") from None
        finally:
            connection.close()
        if 300 <= status < 400:
            raise DeliveryError(f"http {status}: redirects are not followed", permanent=True)
        if status >= 400:
            permanent = status < 500 and status not in RETRYABLE_STATUS
            raise DeliveryError(f"http {status}", permanent=permanent)
        return f"http {status}"
