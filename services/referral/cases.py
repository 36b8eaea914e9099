"""What schools do to cases: submit, amend, withdraw, report attendance. The API calls these.

Each command reads the case, decides with domain/, and claims the case's next version with
the new state and its events (services/referral/repository.py: one unique insert decides
the race, then the case document follows), retrying a few times if another writer (an
event handler, another request) won that version first. Nothing is half-written.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.referral import events
from services.referral.crypto import FieldCipher
from services.referral.domain import status as st
from services.referral.domain.facts import referral_facts
from services.referral.idempotency import IdempotencyConflict
from services.referral.repository import Cases, released

ATTEMPTS = 5


class CaseClosed(Exception):
    """The case is withdrawn or discharged: it accepts no more changes."""


class NotReportable(Exception):
    """Attendance is reported only once the child has been seen (the return plan)."""


class Contended(Exception):
    """The case kept changing under us; the client may retry."""


class KeyReused(Exception):
    """The case id derived from an Idempotency-Key belongs to another child's referral
    (the key was reused after its record was pruned)."""


@dataclass(frozen=True)
class Submitted:
    case_id: str
    status: str
    submitted_at: str
    duplicate: bool
    """True only for this school's own duplicate; another school's is never revealed (see submit)."""
    replayed: bool = False
    """The answer a former request with this Idempotency-Key was given (nothing was done now)."""


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Referrals:
    def __init__(self, cases: Cases, cipher: FieldCipher, clock: Callable[[], datetime]) -> None:
        self.cases = cases
        self.cipher = cipher
        self.clock = clock

    def submit(
        self,
        school_id: str,
        referral: Mapping[str, Any],
        case_id: str | None = None,
        request_hash: str | None = None,
    ) -> Submitted:
        """Open a case, or link to the child's open case (the blind index finds it).

        Opening is one insert whose unique ``child_slot`` is the child's claim: it fails when
        the child already has an open case, and only then is that case read. A duplicate of
        this school's own open case is linked and answered as one. A match on another
        school's case is never revealed (that would confirm a referral elsewhere): this
        school gets its own case, answered exactly like a new one, which is *linked*
        (``linked_to``) — it emits no events, so the hospitals work on the first case, where
        the clinicians see the linked referral.

        ``case_id`` and ``request_hash`` come from an Idempotency-Key (services.referral.
        idempotency): the insert at the derived id is then the key's duplicate check, and a
        clash on it is answered from what the first request wrote (a replay, or a refusal).
        """
        derived = case_id is not None  # from an Idempotency-Key: a retry may find it written
        case_id = case_id or "c-" + secrets.token_hex(10)
        student = referral["student"]
        child = self.cipher.child_index(student["name"], student["date_of_birth"])
        for _ in range(ATTEMPTS):
            opened = self._open(school_id, referral, case_id, child, request_hash)
            if opened is not None:
                return opened
            mine = self.cases.get(case_id) if derived else None  # a fresh random id cannot clash
            if mine is not None:  # a retry of a request that already wrote it
                return self._written(mine, child, request_hash)
            existing = self.cases.holder(child)
            if existing is None:  # closed meanwhile: the child is free again
                continue
            if not st.is_open(existing["status"]):  # closed by a write that kept the slot: free it
                self.cases.release(existing)
                continue
            if school_id in existing["school_ids"]:
                if derived:
                    return self._link_keyed(existing, school_id, referral, case_id, child, request_hash)
                linked = self._link(existing, school_id, referral)
                if linked is not None:
                    return linked
                continue  # the open case changed meanwhile: look again
            return self._open_linked(school_id, referral, case_id, child, existing, request_hash)
        raise Contended("the child's open case kept changing")

    def _open(
        self,
        school_id: str,
        referral: Mapping[str, Any],
        case_id: str,
        child: str,
        request_hash: str | None = None,
    ) -> Submitted | None:
        """The new case holding the child, with its events; None if the id or the child clashed."""
        now = self.clock()
        at, referred_on = iso(now), now.date().isoformat()
        case = self._new_case(school_id, referral, case_id, child, now, request_hash)
        facts = referral_facts(case_id, school_id, referred_on, referral)
        emitted = [
            events.submitted(facts),
            events.status_changed(case, st.SUBMITTED, None, "referral.submitted", at),
        ]
        if not self.cases.insert(case, emitted):
            return None
        return Submitted(case_id, st.SUBMITTED, at, duplicate=False)

    def _written(self, case: dict[str, Any], child: str, request_hash: str | None) -> Submitted:
        """The first answer for a case this request's id already names (a retry, or a reused key).

        A link whose first request died before it landed is completed here (the link is
        guarded by this case's id, so it is never made twice by a retry).
        """
        if case["child_index"] != child:
            raise KeyReused(case["_id"])
        if request_hash is not None and case.get("request_hash", request_hash) != request_hash:
            raise IdempotencyConflict("This Idempotency-Key was already used with a different request body.")
        if case.get("linked_to"):  # the first request may have died before linking it
            first = self.cases.get(case["linked_to"])
            if first is not None:
                self._push_link(first, case)
        answer = case.get("answer")
        if answer is not None:  # a link record: the first request was linked to the school's open case
            return Submitted(answer["case_id"], answer["status"], answer["submitted_at"], True, replayed=True)
        return Submitted(case["_id"], st.SUBMITTED, iso(case["submitted_at"]), False, replayed=True)

    def _open_linked(
        self,
        school_id: str,
        referral: Mapping[str, Any],
        case_id: str,
        child: str,
        existing: dict[str, Any],
        request_hash: str | None = None,
    ) -> Submitted:
        """This school's own case for a child another school already referred: no events, no claim.

        Written before the link on the first case, and the link is guarded by this case's id,
        so a retry (or a crash between the two writes) never links twice or loses the link.
        """
        case = self._new_case(school_id, referral, case_id, child, self.clock(), request_hash)
        case["linked_to"] = existing["_id"]
        case["child_slot"] = released(case_id)
        if not self.cases.insert(case, []):
            written = self.cases.get(case_id)
            if written is None:
                raise Contended("the linked case clashed but cannot be read")
            return self._written(written, child, request_hash)
        self._push_link(existing, case)
        return Submitted(case_id, case["status"], iso(case["submitted_at"]), duplicate=False)

    def _link_keyed(
        self,
        existing: dict[str, Any],
        school_id: str,
        referral: Mapping[str, Any],
        case_id: str,
        child: str,
        request_hash: str | None,
    ) -> Submitted:
        """:meth:`_link` for a keyed request: the answer is kept as a *link record* at the
        derived id, so a retry replays it even after the open case has closed.

        The record is a case document that holds no child (released ``child_slot``), is in
        no school's list (``school_ids`` empty, so no school can read it) and emits no events;
        it is written before the link, exactly like :meth:`_open_linked`, for the same reason.
        """
        answer = {
            "case_id": existing["_id"],
            "status": existing["status"],
            "submitted_at": iso(existing["submitted_at"]),
        }
        record = self._new_case(school_id, referral, case_id, child, self.clock(), request_hash)
        record.update(school_ids=[], linked_to=existing["_id"], child_slot=released(case_id), answer=answer)
        if not self.cases.insert(record, []):
            written = self.cases.get(case_id)
            if written is None:
                raise Contended("the link record clashed but cannot be read")
            return self._written(written, child, request_hash)
        self._push_link(existing, record)
        return Submitted(answer["case_id"], answer["status"], answer["submitted_at"], duplicate=True)

    def _push_link(self, existing: dict[str, Any] | None, case: dict[str, Any]) -> None:
        """Record ``case`` on the first case once (as a version of it, like every change)."""
        for _ in range(ATTEMPTS):
            if existing is None or any(
                link.get("case_id") == case["_id"] for link in existing.get("linked_referrals", [])
            ):
                return
            at = iso(self.clock())
            linked = {
                "school_id": case["school_id"],
                "case_id": case["_id"],
                "at": at,
                "referral": case["referral"],
            }
            entry = st.timeline_entry("duplicate_referral_linked", at, existing["status"])
            if self.cases.update(existing, {"$push": {"linked_referrals": linked, "timeline": entry}}):
                return
            existing = self.cases.get(existing["_id"])
        raise Contended(case["_id"])

    def _new_case(
        self,
        school_id: str,
        referral: Mapping[str, Any],
        case_id: str,
        child: str,
        now: datetime,
        request_hash: str | None = None,
    ) -> dict[str, Any]:
        at = iso(now)
        case = {
            "_id": case_id,
            "school_id": school_id,
            "school_ids": [school_id],
            "status": st.SUBMITTED,
            "version": 1,
            "child_index": child,
            "child_slot": child,
            "referral": self.cipher.seal(referral),
            "referred_on": now.date().isoformat(),
            "submitted_at": now,
            "updated_at": now,
            "timeline": [st.timeline_entry("submitted", at, st.SUBMITTED)],
            "attendance": {},
            "applied_events": [],
        }
        if request_hash is not None:
            case["request_hash"] = request_hash
        return case

    def _link(
        self, existing: dict[str, Any], school_id: str, referral: Mapping[str, Any]
    ) -> Submitted | None:
        """Attach this school's new referral to its own open case for the child; None if that
        case changed since it was read (the caller looks again)."""
        at = iso(self.clock())
        linked = {"school_id": school_id, "at": at, "referral": self.cipher.seal(referral)}
        entry = st.timeline_entry("duplicate_referral_linked", at, existing["status"])
        if not self.cases.update(existing, {"$push": {"linked_referrals": linked, "timeline": entry}}):
            return None
        return Submitted(existing["_id"], existing["status"], iso(existing["submitted_at"]), duplicate=True)

    def amend(
        self, case_id: str, school_id: str, changes: Mapping[str, Any], current: dict | None = None
    ) -> dict[str, Any]:
        def change(case: dict[str, Any], now: datetime) -> tuple[dict, list]:
            if not st.is_open(case["status"]):
                raise CaseClosed(case_id)
            picture = {**self.cipher.unseal(case["referral"]), **changes}
            facts = referral_facts(case_id, case["school_id"], case["referred_on"], picture)
            entry = st.timeline_entry("amended", iso(now), case["status"], fields=sorted(changes))
            update = {
                "$set": {"referral": self.cipher.seal(picture), "updated_at": now},
                "$push": {"timeline": entry},
            }
            return update, [events.amended(facts, list(changes))]

        return self._change(case_id, school_id, change, current)

    def withdraw(
        self, case_id: str, school_id: str, reason: str, note: str | None, current: dict | None = None
    ) -> dict[str, Any]:
        def change(case: dict[str, Any], now: datetime) -> tuple[dict, list]:
            if not st.is_open(case["status"]):
                raise CaseClosed(case_id)
            at = iso(now)
            withdrawal = {"reason": reason, "at": at, "by": school_id}
            if note:
                withdrawal["note"] = self.cipher.encrypt(note)
            entry = st.timeline_entry("withdrawn", at, st.WITHDRAWN, reason=reason)
            update = {
                "$set": {
                    "status": st.WITHDRAWN,
                    "withdrawal": withdrawal,
                    "updated_at": now,
                    "child_slot": released(case_id),  # the child may be referred again
                },
                "$push": {"timeline": entry},
            }
            emitted = [
                events.withdrawn(case_id, reason),
                events.status_changed(case, st.WITHDRAWN, case["status"], "referral.withdrawn", at),
            ]
            return update, emitted

        return self._change(case_id, school_id, change, current)

    def report_attendance(
        self,
        case_id: str,
        school_id: str,
        week_start: str,
        hours: list[float],
        current: dict | None = None,
    ) -> dict[str, Any]:
        def change(case: dict[str, Any], now: datetime) -> tuple[dict, list]:
            if not st.can_report_attendance(case["status"]):
                raise NotReportable(case["status"])
            report = {"hours_by_day": hours, "reported_at": iso(now), "by": school_id}
            update = {"$set": {f"attendance.{week_start}": report, "updated_at": now}}
            return update, [events.attendance_reported(case_id, week_start, hours)]

        return self._change(case_id, school_id, change, current)

    def _change(
        self,
        case_id: str,
        school_id: str,
        change: Callable[..., tuple[dict, list]],
        current: dict | None = None,
    ) -> dict:
        """Decide on the case and write it if unchanged since read; the case as written.

        ``current`` is the school's case as the caller just read it (saves the first read);
        every retry reads it again.
        """
        for _ in range(ATTEMPTS):
            case = current or self.cases.get_for_school(case_id, school_id)
            current = None
            if case is None:
                raise LookupError(case_id)
            update, emitted = change(case, self.clock())
            if case.get("linked_to"):  # the hospitals work on the first case; this one stays local
                emitted = []
            written = self.cases.updated(case, update, emitted)
            if written is not None:
                return written
        raise Contended(case_id)
