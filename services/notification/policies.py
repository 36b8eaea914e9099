"""Who may call each notification route: regional operators only (the log names who was contacted)."""

from __future__ import annotations

from shared.auth import REGION, Policies, staff

OPERATOR = staff("operator", scope=REGION)

POLICIES: Policies = {
    ("GET", "/v1/deliveries"): OPERATOR,
    ("GET", "/v1/deliveries/<delivery_id>"): OPERATOR,
    ("POST", "/v1/deliveries/<delivery_id>/replay"): OPERATOR,
    ("GET", "/v1/reminders"): OPERATOR,
}
