"""The operators' HTTP API: the delivery log, dead letters and their replay, reminders.

Everything here needs an operator staff token: the log reveals who was contacted
about which case, even with addresses masked.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint, abort

from services.notification.repository import DEAD, DeliveryLog, ReminderStore
from services.notification.schemas import Delivery, DeliveryPage, DeliveryQuery, ReminderPage, ReminderQuery
from services.notification.sender import Sender
from shared.auth import StaffTokens, require_staff

FILTERS = ("case_id", "channel", "template")


def blueprints(sender: Sender, reminders: ReminderStore, tokens: StaffTokens) -> list[Blueprint]:
    """Fresh blueprints per app (nothing is created at import time)."""
    log: DeliveryLog = sender.log
    deliveries = Blueprint("deliveries", __name__, url_prefix="/v1/deliveries", description="Delivery log")
    reminder_bp = Blueprint("reminders", __name__, url_prefix="/v1/reminders", description="Reminders")

    def operator_only() -> None:
        require_staff(tokens, "operator")

    deliveries.before_request(operator_only)
    reminder_bp.before_request(operator_only)

    @deliveries.route("")
    class DeliveryList(MethodView):
        @deliveries.arguments(DeliveryQuery, location="query")
        @deliveries.response(200, DeliveryPage)
        def get(self, query: dict[str, Any]) -> dict[str, Any]:
            """Deliveries, newest first; ``status=dead`` lists the dead letters."""
            filters = {k: query[k] for k in FILTERS if query.get(k)}
            if query.get("status"):
                filters["state"] = query["status"]
            items = log.search(filters, query["limit"], query["offset"])
            return {"items": items, "count": len(items)}

    @deliveries.route("/<delivery_id>")
    class DeliveryItem(MethodView):
        @deliveries.response(200, Delivery)
        def get(self, delivery_id: str) -> dict[str, Any]:
            """One delivery with its attempt history."""
            return log.get(delivery_id) or abort(404, message="No such delivery.")

    @deliveries.route("/<delivery_id>/replay")
    class DeliveryReplay(MethodView):
        @deliveries.response(200, Delivery)
        def post(self, delivery_id: str) -> dict[str, Any]:
            """Give a dead letter a fresh round of attempts; the first one is made now."""
            found = log.get(delivery_id)
            if found is None:
                abort(404, message="No such delivery.")
            if found["state"] != DEAD or not log.replay(delivery_id, sender.clock()):
                abort(409, message=f"Only dead deliveries can be replayed; this one is {found['state']}.")
            sender.attempt(delivery_id)
            return log.get(delivery_id)

    @reminder_bp.route("")
    class ReminderList(MethodView):
        @reminder_bp.arguments(ReminderQuery, location="query")
        @reminder_bp.response(200, ReminderPage)
        def get(self, query: dict[str, Any]) -> dict[str, Any]:
            """A case's reminders (scheduled, fired, withdrawn)."""
            return {"items": reminders.for_case(query["case_id"])}

    return [deliveries, reminder_bp]
