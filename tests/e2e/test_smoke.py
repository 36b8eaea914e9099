"""Every service answers its operational endpoints in both modes, from separate processes."""

from __future__ import annotations

import requests

from services.platform import available
from tests.e2e.steps import staff


def test_every_service_is_healthy_ready_and_documented(platform):
    assert set(platform.urls) == {*available(), "console"}
    for name in available():
        assert requests.get(platform.url(name, "/healthz"), timeout=5).json() == {"status": "ok"}
        ready = requests.get(platform.url(name, "/readyz"), timeout=5)
        assert ready.status_code == 200, ready.text
        checks = ready.json()["checks"]
        assert checks["store"] == "ok"
        if platform.mode == "stack":
            assert checks["kafka"] == "ok"
        spec = requests.get(platform.url(name, "/openapi.json"), timeout=5).json()
        assert spec["openapi"].startswith("3.")
        metrics = requests.get(platform.url(name, "/metrics"), timeout=5).text
        assert "waymark_http_requests_total" in metrics or "# HELP" in metrics


def test_the_console_sees_every_service(platform):
    url = platform.url("console", "/api/overview")
    assert requests.get(url, timeout=10).status_code == 401  # operators only
    overview = requests.get(url, headers=staff(platform, "operator"), timeout=10).json()
    assert {s["name"] for s in overview["services"]} == set(available())
    assert all(s["ready"] for s in overview["services"]), overview["services"]
