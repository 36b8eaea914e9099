"""Other services' events move a case along its timeline (docs/events.md, "consumers: referral").

Each handler is idempotent on the case itself: the change is the case's next version
(services/referral/repository.py, a unique claim), taken only if the event's key is not
yet in ``applied_events`` as read (shared.inbox.once), and it records the key in the same
version, together with the ``referral.status_changed`` event when the status moves. A
redelivered event changes nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from services.referral import events
from services.referral.cases import ATTEMPTS, Contended
from services.referral.domain import status as st
from services.referral.repository import Cases, released
from shared import inbox, topics
from shared.consumer import Handler
from shared.events import Event

log = logging.getLogger(__name__)

CONSUMES = (topics.events("assessment"), topics.events("scheduling"))


class TimelineHandler:
    def __init__(self, cases: Cases, clock: Callable[[], datetime]) -> None:
        self.cases = cases
        self.clock = clock

    def __call__(self, event: Event) -> None:
        case_id = str(event.data.get("case_id") or event.subject)
        step = st.step_for(event.name, event.data, event.time)
        for _ in range(ATTEMPTS):
            case = self.cases.get(case_id)
            if case is None:
                log.warning(
                    "event for an unknown case ignored", extra={"case_id": case_id, "type": event.type}
                )
                return
            if event.dedupe_key in case.get("applied_events", []):
                return
            new = st.next_status(case["status"], step)
            update: dict = {
                "$set": {"updated_at": self.clock()},
                "$push": {"timeline": {**step.entry, "status": new}},
            }
            emitted = []
            if new != case["status"]:
                update["$set"]["status"] = new
                if new in st.CLOSED:  # discharged, rejected, redirected: the child may be referred again
                    update["$set"]["child_slot"] = released(case_id)
                emitted.append(events.status_changed(case, new, case["status"], event.name, event.time))
            guard = inbox.once(event, {})
            if self.cases.update(case, inbox.record_applied(event, update), emitted, **guard):
                return
        raise Contended(case_id)


def handlers(cases: Cases, clock: Callable[[], datetime]) -> dict[str, Handler]:
    handler = TimelineHandler(cases, clock)
    return dict.fromkeys(st.CONSUMED, handler)
