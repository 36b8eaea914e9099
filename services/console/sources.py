"""Reading the services the way Prometheus and a load balancer do: /readyz and /metrics over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

TIMEOUT_S = 3.0


@dataclass(frozen=True)
class ServiceEndpoint:
    name: str
    url: str


def fetch(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def health(endpoint: ServiceEndpoint) -> dict[str, Any]:
    try:
        status, body = fetch(endpoint.url + "/readyz")
        payload = json.loads(body or b"{}")
        return {"up": True, "ready": status == 200, "checks": payload.get("checks", {})}
    except (OSError, ValueError) as exc:
        return {"up": False, "ready": False, "checks": {}, "error": str(exc)[:200]}


PEAK_GAUGES = {
    "waymark_outbox_pending": "outbox_pending",
    "waymark_assessment_unowned_tasks_open": "unowned_tasks",
    "waymark_assessment_oncall_gaps": "oncall_gaps",
}
"""Gauges shown as their highest value across the service's processes."""


def metric_summary(endpoint: ServiceEndpoint) -> dict[str, Any]:
    """Totals the console shows; rates are computed by the page between refreshes."""
    try:
        _, body = fetch(endpoint.url + "/metrics")
    except OSError:
        return {}
    sums: dict[str, float] = defaultdict(float)
    by_type: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    lag: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            labels = sample.labels
            if labels.get("service") not in (None, endpoint.name):
                continue  # embedded mode: one registry holds every service's samples
            if sample.name == "waymark_events_published_total":
                sums["published"] += sample.value
            elif sample.name == "waymark_events_consumed_total":
                sums["consumed"] += sample.value
                by_type[labels.get("outcome", "")][labels.get("type", "")] += sample.value
            elif sample.name == "waymark_events_failed_total":
                sums["failed"] += sample.value
            elif sample.name == "waymark_dead_letters_total":
                sums["dead_letters"] += sample.value
            elif sample.name in PEAK_GAUGES:
                key = PEAK_GAUGES[sample.name]
                sums[key] = max(sums[key], sample.value)
            elif sample.name == "waymark_consumer_lag":
                lag[f"{labels.get('topic')}[{labels.get('partition')}]"] = sample.value
            elif sample.name == "waymark_http_requests_total":
                sums["http_requests"] += sample.value

    return {
        **sums,
        "consumer_lag": sum(lag.values()),
        "lag_by_partition": lag,
        "consumed_by_outcome": by_type,
    }


def pressure(endpoint: ServiceEndpoint, token: str) -> Mapping[str, Any] | None:
    try:
        status, body = fetch(endpoint.url + "/v1/pressure", token)
    except OSError:
        return None
    return json.loads(body) if status == 200 else None


def warnings(services: list[dict[str, Any]]) -> list[str]:
    """Safety warnings the operator must see at once (HZ-02): nobody on call for escalations."""
    found = []
    for service in services:
        figures = service.get("metrics") or {}
        if figures.get("oncall_gaps"):
            found.append(
                f"{service['name']}: {int(figures['oncall_gaps'])} hospital(s) hold cases but have no "
                "on-call clinician (ASSESSMENT_ONCALL)"
            )
        if figures.get("unowned_tasks"):
            found.append(
                f"{service['name']}: {int(figures['unowned_tasks'])} escalation task(s) have no owner; "
                "a clinician must take them on"
            )
    return found
