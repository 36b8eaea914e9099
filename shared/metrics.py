"""Every Prometheus metric the shared mechanism exports, named ``waymark_*``.

Metric objects are module-level by Prometheus convention (they hold no connections).
Under gunicorn and the separate worker process, ``PROMETHEUS_MULTIPROC_DIR`` makes
all processes of a service write to one directory that ``/metrics`` aggregates, so
the consumer worker's figures appear on the API's endpoint too.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

HTTP_REQUESTS = Counter(
    "waymark_http_requests_total", "HTTP requests answered.", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "waymark_http_request_duration_seconds",
    "HTTP request latency.",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
EVENTS_PUBLISHED = Counter(
    "waymark_events_published_total", "Events published to the bus by the outbox relay.", ["service", "type"]
)
EVENTS_CONSUMED = Counter(
    "waymark_events_consumed_total",
    "Events consumed, by outcome (handled, duplicate, ignored, dead_lettered).",
    ["service", "type", "outcome"],
)
EVENTS_FAILED = Counter(
    "waymark_events_failed_total", "Failed attempts to handle an event.", ["service", "type"]
)
EVENT_HANDLING = Histogram("waymark_event_handling_seconds", "Time to handle one event.", ["service", "type"])
DEAD_LETTERS = Counter(
    "waymark_dead_letters_total", "Records sent to a dead-letter topic.", ["service", "topic"]
)
COMMIT_FAILURES = Counter(
    "waymark_consumer_commit_failures_total",
    "Offset commits the broker refused or did not answer (the records are redelivered).",
    ["service"],
)
CONSUMER_LAG = Gauge(
    "waymark_consumer_lag",
    "Records not yet committed by the consumer group.",
    ["service", "topic", "partition"],
    multiprocess_mode="mostrecent",
)
OUTBOX_PENDING = Gauge(
    "waymark_outbox_pending",
    "Writes whose outbox events are not yet published (one intent per write).",
    ["service"],
    multiprocess_mode="mostrecent",
)
DUTY_LEADER = Gauge(
    "waymark_duty_leader",
    "1 while a worker of the service leads its duties (sweeper, housekeeping, reminders); 0 after the "
    "last leader stepped down (shared.leadership). The leader re-stamps 1 on every lease check.",
    ["service"],
    multiprocess_mode="mostrecent",
)


def exposition() -> tuple[bytes, str]:
    """The text exposition, aggregated across processes when running multi-process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
