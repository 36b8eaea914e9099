"""Issue 11 item 6: the SSRF rules shared by webhook registration (referral) and delivery (notification)."""

from __future__ import annotations

import pytest

from shared.url_safety import UnsafeURL, check_url, resolve_public


@pytest.mark.parametrize(
    "url",
    [
        "https://0x7f.1/h",  # legacy IPv4 spellings of 127.0.0.1
        "https://017700000001/h",
        "https://[::ffff:169.254.169.254]/h",
        "https://100.64.0.1/h",  # carrier-grade NAT: not public
        "https://224.0.0.1/h",
        "https://db.internal/h",
        "https://printer.local/h",
        "https://api.localhost/h",
        "https://metadata/h",
        "https://school.example@10.0.0.1/h",
        "http://school.example/h",
        "https://:443/h",
    ],
)
def test_refused(url):
    with pytest.raises(UnsafeURL):
        check_url(url)


def test_public_urls_pass_and_loopback_needs_the_flag():
    assert check_url("https://hooks.school-a.example.cn:8443/waymark?x=1") == "hooks.school-a.example.cn"
    assert check_url("https://8.8.8.8/h") == "8.8.8.8"
    assert check_url("http://127.0.0.1:9/h", allow_http=True, allow_loopback=True) == "127.0.0.1"
    with pytest.raises(UnsafeURL):
        check_url("https://127.0.0.1/h")
    with pytest.raises(UnsafeURL):
        check_url("https://10.0.0.1/h", allow_loopback=True)


def test_resolution_checks_every_address_and_fails_closed():
    assert [str(a) for a in resolve_public("x.example", 443, resolver=lambda h, p: ["8.8.8.8"])] == [
        "8.8.8.8"
    ]
    with pytest.raises(UnsafeURL, match=r"169\.254\.169\.254"):
        resolve_public("x.example", 443, resolver=lambda h, p: ["8.8.8.8", "169.254.169.254"])
    with pytest.raises(UnsafeURL):
        resolve_public("x.example", 443, resolver=lambda h, p: [])

    def broken(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(UnsafeURL, match="cannot resolve"):
        resolve_public("x.example", 443, resolver=broken)
