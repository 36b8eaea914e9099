"""The operator console: the whole network at a glance.

It owns no data. It reads every service's /readyz and /metrics, the scheduling
service's pressure report, and the dead-letter topics, and serves one auto-refreshing
page (``/``) plus the JSON behind it (``/api/overview``, ``/api/dead-letters``).
"""
