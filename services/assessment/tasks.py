"""Escalation and safeguarding tasks: created from events, worked by their owner, watched by the worker.

Every write that decides something is an insert on a unique key (FerretDB 1.x updates are
read-modify-write and can have several winners): the task itself under an id derived
from the event that caused it (a redelivery, or a second worker, finds it taken), and each
transition or alert under ``<task id>:<kind>`` in ``task_claims``, carrying its events in
the outbox. The ``tasks`` document is a read model refolded from the claims after every
write and on every read (:func:`services.assessment.domain.tasks.fold`), so a fold lost to
a concurrent writer is repaired by the next reader, and the duty sweep re-checks the
claims before it alerts anyone.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.assessment import events as ev
from services.assessment import metrics
from services.assessment.config import AssessmentConfig
from services.assessment.contacts import ReferralUnavailable
from services.assessment.domain import tasks as rules
from services.assessment.repository import CaseRepository, UnknownCase
from shared.events import Event
from shared.outbox import Outbox
from shared.store import Index

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
TASKS, CLAIMS, ACCESS_LOG = "tasks", "task_claims", "contact_access_log"
HELD = "held_hospitals"
NOTED_CAP = 1000
"""One document per hospital that holds (or may hold) a case; checked against the roster at start."""
INDEXES = {
    TASKS: [
        # The owner's worklist: equality on owner and state, newest due first.
        Index([("owner", ASCENDING), ("state", ASCENDING), ("due_at", ASCENDING)], name="owner_state_due"),
        # The same worklist for a hospital-scoped clinician (services/assessment/scope.py).
        Index(
            [("owner", ASCENDING), ("state", ASCENDING), ("hospital_id", ASCENDING), ("due_at", ASCENDING)],
            name="owner_state_hospital_due",
        ),
        # The duty sweep: equality on the (small) bucket of tasks still watched, then time.
        Index([("duty", ASCENDING), ("duty_at", ASCENDING)], name="duty_due"),
        # Contact details: does this clinician hold a task on this case?
        Index([("case_id", ASCENDING), ("owner", ASCENDING)], name="case_owner"),
    ],
    CLAIMS: [Index([("task_id", ASCENDING)], name="task_claims")],
    ACCESS_LOG: [Index([("case_id", ASCENDING), ("at", ASCENDING)], name="case_at")],
}
SWEEP_LIMIT = 100
OVERDUE_LIMIT = 1000
LIST_LIMIT = 100


class UnknownTask(LookupError):
    """No such task, or not one the caller may see."""


class TransitionRefused(RuntimeError):
    """The task cannot move to that state (already acknowledged or completed); 409."""


class NotYourCase(PermissionError):
    """The clinician holds no task on this case: no contact details (403)."""


ContactsFetch = Callable[[str], Mapping[str, Any] | None]
Visible = Callable[[Mapping[str, Any]], bool]
"""May the caller see this task (services/assessment/scope.py covers_task)?"""


def review_task_id(case_id: str, round_: int) -> str:
    """One review task per case and round (a resubmission is a new round, a new task)."""
    return f"rev-{case_id}-{round_}"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class Tasks:
    db: Database
    cases: CaseRepository
    outbox: Outbox
    config: AssessmentConfig
    clock: Clock
    contacts: ContactsFetch | None = None

    def __post_init__(self) -> None:
        self.tasks = self.db[TASKS]
        self.claims = self.db[CLAIMS]
        self.access_log = self.db[ACCESS_LOG]
        self._noted: set[str] = set()

    # -- creation --------------------------------------------------------------------------

    def escalated(self, event: Event) -> None:
        """``assessment.escalated`` (our own event): one task, one owner, due at the contact deadline."""
        data = event.data
        case = self.cases.get(data["case_id"], {"booked_hospital": 1, "referral": 1})
        if case is None:
            raise UnknownCase(data["case_id"])
        deadline = datetime.fromisoformat(data["contact_deadline"])
        self._create(
            f"esc-{event.id}",
            rules.ESCALATION_CONTACT,
            case,
            reasons=list(data["reasons"]),
            action=data.get("action") or "contact_family",
            due=deadline,
            contact_within_hours=int(data["contact_within_hours"]),
        )

    def review_requested(self, event: Event) -> None:
        """``assessment.review_requested`` (our own event): a referral waiting for review is a
        task for the reviewing hospital's on-call, due at the review deadline, re-alerted and
        breached like an escalation — so it is never left unseen (HZ-14). A round already
        decided when this is handled (a late redelivery) makes no task."""
        data = event.data
        case = self.cases.get(
            data["case_id"], {"booked_hospital": 1, "referral": 1, "review": 1, "status": 1}
        )
        if case is None:
            raise UnknownCase(data["case_id"])
        if (
            case.get("status") != "awaiting_review"
            or (case.get("review") or {}).get("round") != data["round"]
        ):
            return
        due = datetime.fromisoformat(data["due_at"])
        self._create(
            review_task_id(data["case_id"], data["round"]),
            rules.REFERRAL_REVIEW,
            case,
            reasons=["referral_awaiting_review" + ("_risk_flagged" if data.get("risk_flagged") else "")],
            action="review_referral",
            due=due,
            contact_within_hours=max(0, int((_aware(due) - self.clock()).total_seconds() // 3600)),
            hospital=data.get("hospital_id"),
        )

    def close_review(self, case_id: str, round_: int, by: str, outcome: str) -> None:
        """The review is decided: its task is completed (no further re-alert or breach).
        A task not yet made is never made (review_requested checks the round first)."""
        task_id = review_task_id(case_id, round_)
        claim = {"_id": f"{task_id}:{rules.COMPLETED}", "task_id": task_id, "kind": rules.COMPLETED}
        claim |= {"at": self.clock(), "by": by, "outcome": outcome}
        with contextlib.suppress(DuplicateKeyError):
            self.outbox.insert_one(self.claims, claim, [])
        task = self.tasks.find_one({"_id": task_id})
        if task is not None:
            self._refold(task)

    def withdrawn(self, event: Event) -> None:
        """``referral.withdrawn``: a referral withdrawn while awaiting review needs no review;
        its task is completed (``review_withdrawn``) so it does not re-alert or breach."""
        case = self.cases.get(event.data["case_id"], {"review": 1})
        if case is None:
            raise UnknownCase(event.data["case_id"])
        if case.get("review"):
            self.close_review(case["_id"], case["review"]["round"], "system", "review_withdrawn")

    def no_show(self, event: Event) -> None:
        """``appointment.no_show``: an escalated or P1 child's missed appointment needs a same-day contact."""
        case_id = event.data["case_id"]
        case = self.cases.get(case_id, {"booked_hospital": 1, "referral": 1, "escalated": 1, "band": 1})
        if case is None:
            raise UnknownCase(case_id)
        if not (case.get("escalated") or case.get("band") == "P1"):
            return
        now = self.clock()
        local = now.astimezone(ZoneInfo(self.config.tz))
        end_of_day = datetime.combine(local.date(), time(23, 59), tzinfo=local.tzinfo).astimezone(UTC)
        due = max(end_of_day, now + timedelta(hours=1))  # a no-show at 23:30 still gets an hour
        self._create(
            f"nos-{event.data.get('appointment_id') or event.id}",  # one per missed appointment
            rules.SAFEGUARDING_CONTACT,
            case,
            reasons=["missed_appointment_" + ("escalated" if case.get("escalated") else "p1")],
            action="safeguarding_contact_today",
            due=due,
            contact_within_hours=max(1, int((due - now).total_seconds() // 3600)),
            appointment_id=event.data.get("appointment_id"),
        )

    def _create(
        self,
        task_id: str,
        kind: str,
        case: Mapping[str, Any],
        *,
        reasons: list[str],
        action: str,
        due: datetime,
        contact_within_hours: int,
        appointment_id: str | None = None,
        hospital: str | None = None,
    ) -> None:
        now = self.clock()
        if self.config.task_deadline_s is not None:
            due = now + timedelta(seconds=self.config.task_deadline_s)
        preferred = ((case.get("referral") or {}).get("preferences") or {}).get("hospitals") or []
        hospital = hospital or rules.holding_hospital(case.get("booked_hospital"), preferred)
        oncall = self.config.oncall_for(hospital)
        owner = oncall.clinician if oncall else rules.UNOWNED
        task = {
            "_id": task_id,
            "kind": kind,
            "case_id": case["_id"],
            "hospital_id": hospital,
            "owner": owner,
            "second_line": oncall.second_line if oncall else None,
            "reasons": reasons,
            "action": action,
            "contact_within_hours": contact_within_hours,
            "appointment_id": appointment_id,
            "created_at": now,
            "updated_at": now,
            "due_at": due,
        }
        task |= rules.fold(task, [], self.config.task_realert_fraction)
        alert = ev.task_alert(task, rules.REQUESTED, owner, "owner")
        try:
            self.outbox.insert_one(self.tasks, task, [alert])
        except DuplicateKeyError:
            return  # a redelivery, or another worker: the task and its alert exist
        if owner == rules.UNOWNED:
            # Never silent: a metric (alert rule WaymarkEscalationUnowned), an error log, and the
            # task stays in the unowned worklist where the console shows it.
            metrics.UNOWNED_TASKS.labels(hospital or "none").inc()
            log.error(
                "escalation task has no on-call owner",
                extra={"task_id": task_id, "hospital_id": hospital, "case_id": case["_id"]},
            )

    # -- reads -----------------------------------------------------------------------------

    def get(self, task_id: str, visible: Visible | None = None) -> dict[str, Any]:
        """The task; UnknownTask if there is none or ``visible`` says the caller may not see it."""
        task = self.tasks.find_one({"_id": task_id})
        if task is None or (visible is not None and not visible(task)):
            raise UnknownTask(task_id)
        return self._refold(task)

    def holds_task_on(self, case_id: str, by: str, within: Mapping[str, Any]) -> bool:
        """Does ``by`` own a task on the case (of a hospital in ``within``)? Index case_owner."""
        return self.tasks.find_one({"case_id": case_id, "owner": by, **within}, {"_id": 1}) is not None

    def for_owner(
        self, owner: str, state: str, limit: int = LIST_LIMIT, within: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The owner's tasks in one state, soonest due first (index owner_state_due; with a
        hospital-scoped clinician's ``within`` (scope.task_filter), owner_state_hospital_due)."""
        query = {"owner": owner, "state": state, **(within or {})}
        return list(self.tasks.find(query).sort("due_at", ASCENDING).limit(limit))

    def _refold(self, task: dict[str, Any]) -> dict[str, Any]:
        claims = list(self.claims.find({"task_id": task["_id"]}))
        folded = rules.fold(task, claims, self.config.task_realert_fraction)
        if any(task.get(k) != v for k, v in folded.items()):
            task |= folded
            self.tasks.update_one({"_id": task["_id"]}, {"$set": {**folded, "updated_at": self.clock()}})
        return task

    # -- the owner's transitions -----------------------------------------------------------

    def acknowledge(self, task_id: str, by: str, visible: Visible | None = None) -> dict[str, Any]:
        return self._transition(task_id, rules.ACKNOWLEDGED, by, visible)

    def complete(
        self, task_id: str, by: str, outcome: str, note: str | None, visible: Visible | None = None
    ) -> dict[str, Any]:
        return self._transition(task_id, rules.COMPLETED, by, visible, outcome=outcome, note=note)

    def _transition(
        self, task_id: str, kind: str, by: str, visible: Visible | None, **extra: Any
    ) -> dict[str, Any]:
        task = self.get(task_id, visible)
        if not rules.may_act(task["owner"], by, kind):
            raise UnknownTask(task_id)  # not theirs: no oracle for other clinicians' tasks
        if kind == rules.COMPLETED and task["kind"] == rules.REFERRAL_REVIEW:
            raise TransitionRefused("a review task is completed by the review decision (HZ-14)")
        if why := rules.transition_error(task["state"], kind):
            raise TransitionRefused(why)
        claim = {"_id": f"{task_id}:{kind}", "task_id": task_id, "kind": kind, "at": self.clock(), "by": by}
        claim |= {k: v for k, v in extra.items() if v is not None}
        try:
            self.outbox.insert_one(self.claims, claim, [])
        except DuplicateKeyError:
            raise TransitionRefused(f"the task is already {kind}") from None
        return self.get(task_id)

    # -- duties ----------------------------------------------------------------------------

    def sweep(self) -> int:
        """Raise every due re-alert and breach alert once, whichever worker gets there first."""
        now = self.clock()
        raised = 0
        for duty in (rules.REALERT, rules.BREACH):
            query = {"duty": duty, "duty_at": {"$lte": now}}
            for task in list(self.tasks.find(query).sort("duty_at", ASCENDING).limit(SWEEP_LIMIT)):
                raised += self._raise(task, duty, now)
        return raised

    def _raise(self, task: dict[str, Any], duty: str, now: datetime) -> int:
        task = self._refold(task)  # the claims decide: an acknowledgement may have landed since
        if task["duty"] != duty or task["duty_at"] is None or _aware(task["duty_at"]) > now:
            return 0
        if duty == rules.REALERT:
            recipient, tier = task["owner"], "owner"
        else:
            recipient, tier = task.get("second_line") or task["owner"], "second_line"
        claim = {"_id": f"{task['_id']}:{duty}", "task_id": task["_id"], "kind": duty, "at": now}
        claim["recipient"] = recipient
        try:
            self.outbox.insert_one(self.claims, claim, [ev.task_alert(task, duty, recipient, tier)])
        except DuplicateKeyError:
            self._refold(task)
            return 0
        metrics.TASK_ALERTS.labels(duty).inc()
        self._refold(task)
        return 1

    def duty(self, stop: threading.Event) -> None:
        """The worker's loop: sweep, then wait a tick; a failure is logged and retried next tick."""
        while not stop.is_set():
            try:
                self.sweep()
                metrics.UNOWNED_OPEN.set(self.unowned_open())
                metrics.ONCALL_GAPS.set(len(self.hospitals_without_oncall()))
                metrics.REVIEWS_OVERDUE.set(self.cases.overdue_reviews(self.clock(), OVERDUE_LIMIT))
            except Exception:
                log.exception("task sweep failed; retrying next tick")
            stop.wait(self.config.task_tick_s)

    def unowned_open(self) -> int:
        """Unowned tasks not yet completed (two equality reads on owner_state_due, bounded)."""
        return sum(
            len(list(self.tasks.find({"owner": rules.UNOWNED, "state": s}, {"_id": 1}).limit(LIST_LIMIT)))
            for s in (rules.REQUESTED, rules.ACKNOWLEDGED)
        )

    # -- the family's contact details --------------------------------------------------------

    def contact_details(
        self, case_id: str, by: str, why: str, within: Mapping[str, Any] | None = None
    ) -> Mapping[str, Any]:
        """The family's contacts for a clinician holding a task on the case (of a hospital in
        ``within``, for a hospital-scoped clinician: scope.task_filter); every read is logged."""
        task = self.tasks.find_one({"case_id": case_id, "owner": by, **(within or {})}, {"_id": 1})
        if task is None:
            raise NotYourCase(case_id)
        entry = {"case_id": case_id, "by": by, "at": self.clock(), "why": why, "task_id": task["_id"]}
        self.access_log.insert_one(entry)  # logged before anything is read: no unlogged read
        if self.contacts is None:
            raise ReferralUnavailable("no referral URL configured")
        found = self.contacts(case_id)
        if found is None:
            raise UnknownCase(case_id)
        return found

    def access_entries(self, case_id: str, limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
        cursor = self.access_log.find({"case_id": case_id}, {"_id": 0}).sort("at", ASCENDING).limit(limit)
        return list(cursor)

    def hospitals_without_oncall(self) -> list[str]:
        """Hospitals holding cases that the roster (and its default) cannot cover."""
        if self.config.oncall_for(None) is not None:
            return []
        held = self.db[HELD].find({}, {"_id": 1}).limit(1000)
        return sorted(h["_id"] for h in held if self.config.oncall_for(h["_id"]) is None)

    def note_hospital(self, hospital_id: str | None) -> None:
        """Remember a hospital that holds cases (the set is small: one document per hospital).

        Once a hospital is known to be stored (inserted, or found there), this process asks no
        more: the documents are never deleted, and the in-memory set is bounded by the region's
        hospitals. It saves a round trip on nearly every referral the consumer handles.
        """
        if hospital_id and hospital_id not in self._noted:
            with contextlib.suppress(DuplicateKeyError):
                self.db[HELD].insert_one({"_id": hospital_id})
            if len(self._noted) >= NOTED_CAP:  # ids come from referrals: never let the set grow unbounded
                self._noted.clear()
            self._noted.add(hospital_id)
