"""The notification service's own Prometheus metric (module-level by Prometheus convention).

``result`` is one of sent, retry, dead, deferred (quiet hours), withdrawn (consent or
recipient gone, appointment moved). Alert on a rising ``dead`` rate per channel.
``ONCALL_UNREACHABLE`` counts on-call alerts (escalation tasks) with nobody to send them to.
"""

from __future__ import annotations

from prometheus_client import Counter

NOTIFICATIONS = Counter(
    "waymark_notifications_total", "Delivery attempts by channel and result.", ["channel", "result"]
)

ONCALL_UNREACHABLE = Counter(
    "waymark_notification_oncall_unreachable_total",
    "On-call alerts with no address in NOTIFICATION_ONCALL (person, hospital or default).",
    ["template"],
)
