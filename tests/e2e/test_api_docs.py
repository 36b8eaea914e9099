"""The API documentation page on a hospital intranet with no internet: Swagger UI must render from
the service alone (issue 13, item 7)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import ARTIFACTS

SERVICES = ("referral", "scheduling", "assessment", "notification")


@pytest.mark.parametrize("service", SERVICES)
def test_the_docs_page_renders_every_operation_with_the_network_off(browser, stack, service):
    refused: list[str] = []

    def loopback_only(route, request) -> None:
        if urlsplit(request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:  # what an offline intranet does to a CDN request
            refused.append(request.url)
            route.abort("internetdisconnected")

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.route("**/*", loopback_only)
    page = context.new_page()
    try:
        page.goto(stack.url(service, "/docs"))
        page.wait_for_selector(".opblock", timeout=20_000)
        shown = page.locator(".opblock-summary-path").all_inner_texts()
        page.screenshot(path=str(ARTIFACTS / f"docs-offline-{service}.png"))
    finally:
        context.close()

    assert refused == []
    assert any(path.startswith("/v1/") for path in shown), shown
