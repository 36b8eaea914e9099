"""Outbound URLs chosen by outsiders (schools' webhooks) must not reach inside the network (SSRF).

Two checks, because a name can change what it points at after registration:

* :func:`check_url` when the URL is registered (referral): https only, no ``user:pass@``,
  no metadata or ``localhost`` names, and an IP literal must be a public address.
* :func:`resolve_public` when a message is delivered (notification): resolve the name, check
  *every* address, and the caller connects to one of the checked addresses (never resolves
  again), so DNS rebinding cannot swap in an internal address between check and connect.

Loopback is allowed only behind an explicit flag (tests and the e2e receiver, which listen on
127.0.0.1); private, link-local (169.254/16, the cloud metadata address), unspecified,
multicast and reserved addresses never are.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

BLOCKED_NAMES = frozenset(
    {
        "localhost",
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.com",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
"""Names that mean "this machine" or a cloud metadata service wherever they are resolved."""


class UnsafeURL(ValueError):
    """The URL (or an address its host resolves to) is not a public https endpoint."""


def check_url(url: str, *, allow_http: bool = False, allow_loopback: bool = False) -> str:
    """The URL's host name if ``url`` may be registered; :class:`UnsafeURL` with the reason if not."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        raise UnsafeURL(f"not a valid URL: {exc}") from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeURL("must be an https URL")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise UnsafeURL("must not contain credentials (user:pass@)")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeURL("must name a host")
    if host in BLOCKED_NAMES or host.endswith((".localhost", ".internal", ".local")):
        if not (allow_loopback and (host == "localhost" or host.endswith(".localhost"))):
            raise UnsafeURL(f"host {host!r} is a local or metadata name")
        return host
    literal = _ip_literal(host)
    if literal is not None:
        check_address(literal, allow_loopback=allow_loopback)
    return host


def check_address(address: IPAddress | str, *, allow_loopback: bool = False) -> IPAddress:
    """``address`` if it is public (or loopback with the flag); :class:`UnsafeURL` otherwise."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        check_address(ip.ipv4_mapped, allow_loopback=allow_loopback)
        return ip
    if ip.is_loopback:
        if allow_loopback:
            return ip
        raise UnsafeURL(f"address {ip} is loopback")
    if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        raise UnsafeURL(f"address {ip} is not a public address (private, link-local, metadata or reserved)")
    return ip


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]).split("%", 1)[0] for info in infos]


def resolve_public(
    host: str, port: int, *, allow_loopback: bool = False, resolver: Resolver = system_resolver
) -> list[IPAddress]:
    """Every address ``host`` resolves to, all checked; :class:`UnsafeURL` if any one is not allowed.

    Refusing when *any* address is internal (not just the first) stops a name that resolves
    to one public and one internal address from reaching the internal one on a retry.
    """
    literal = _ip_literal(host)
    if literal is not None:
        return [check_address(literal, allow_loopback=allow_loopback)]
    try:
        found = resolver(host, port)
    except OSError as exc:
        raise UnsafeURL(f"cannot resolve {host!r}: {exc}") from None
    if not found:
        raise UnsafeURL(f"{host!r} resolves to no address")
    return [check_address(address, allow_loopback=allow_loopback) for address in dict.fromkeys(found)]


def _ip_literal(host: str) -> IPAddress | None:
    """``host`` as an address if it is one, including the legacy IPv4 forms (``0x7f.1``, ``2130706433``)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None
