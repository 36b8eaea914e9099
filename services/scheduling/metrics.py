"""Waitlist gauges for Prometheus (module-level by Prometheus convention; they hold no connections).

``mostrecent`` keeps the latest value across the API and worker processes, since
whichever process last computed pressure has the freshest picture. Waits are exported in
seconds, Prometheus's base unit (``promtool check metrics`` insists); dashboards show days.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Gauge

from services.scheduling.domain.pressure import BandPressure

LABELS = ["hospital", "band"]
DAY_S = 86_400

WAITLIST_SIZE = Gauge(
    "waymark_waitlist_size",
    "Families waiting, by home hospital and band.",
    LABELS,
    multiprocess_mode="mostrecent",
)
OLDEST_WAIT = Gauge(
    "waymark_waitlist_oldest_wait_seconds",
    "How long the longest-waiting family has waited.",
    LABELS,
    multiprocess_mode="mostrecent",
)
PREDICTED_WAIT = Gauge(
    "waymark_predicted_wait_seconds",
    "Predicted wait for a family joining now.",
    LABELS,
    multiprocess_mode="mostrecent",
)
PROJECTED_BREACHES = Gauge(
    "waymark_projected_breaches",
    "Waiting families projected to miss their target date.",
    LABELS,
    multiprocess_mode="mostrecent",
)


def publish(rows: Iterable[BandPressure]) -> None:
    for row in rows:
        labels = (row.hospital_id, row.band)
        WAITLIST_SIZE.labels(*labels).set(row.waiting)
        OLDEST_WAIT.labels(*labels).set(row.oldest_wait_days * DAY_S)
        PREDICTED_WAIT.labels(*labels).set(row.predicted_wait_days * DAY_S)
        PROJECTED_BREACHES.labels(*labels).set(row.projected_breaches)
