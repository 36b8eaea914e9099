"""Assessment's own Prometheus metrics: escalation tasks nobody owns, on-call gaps, task alerts.

deploy/prometheus/alerts.yml turns the first two into pages (an escalation is never dropped
silently, HZ-02); the console shows them as warnings.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

UNOWNED_TASKS = Counter(
    "waymark_assessment_unowned_tasks_total",
    "Escalation tasks created with no on-call owner (the holding hospital has no roster entry).",
    ["hospital"],
)
UNOWNED_OPEN = Gauge(
    "waymark_assessment_unowned_tasks_open",
    "Escalation tasks with no owner not yet completed.",
    multiprocess_mode="mostrecent",
)
ONCALL_GAPS = Gauge(
    "waymark_assessment_oncall_gaps",
    "Hospitals holding cases with no on-call clinician in ASSESSMENT_ONCALL (and no default).",
    multiprocess_mode="mostrecent",
)
TASK_ALERTS = Counter(
    "waymark_assessment_task_alerts_total",
    "Re-alerts (unacknowledged at half the deadline) and second-line breach alerts raised.",
    ["stage"],
)
REVIEWS_OVERDUE = Gauge(
    "waymark_assessment_reviews_overdue",
    "Referrals still awaiting review past their review deadline (HZ-14; counted up to 1000).",
    multiprocess_mode="mostrecent",
)
