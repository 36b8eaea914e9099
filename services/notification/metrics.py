"""The notification service's own Prometheus metric (module-level by Prometheus convention).

``result`` is one of sent, retry, dead, deferred (quiet hours), withdrawn (consent or
recipient gone, appointment moved). Alert on a rising ``dead`` rate per channel.
"""

from __future__ import annotations

from prometheus_client import Counter

NOTIFICATIONS = Counter(
    "waymark_notifications_total", "Delivery attempts by channel and result.", ["channel", "result"]
)
