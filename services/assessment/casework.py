"""Triage of a case over its life: first triage, re-triage on amendment, withdrawal, override.

Each operation turns one input (an event or a clinician's request) into one update of
the case document carrying the events it causes, so a triage and its
``assessment.triaged`` / ``assessment.escalated`` events are never separated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.assessment import events as ev
from services.assessment import intake
from services.assessment import review as reviewing
from services.assessment.domain import cosign, versions
from services.assessment.domain import review as review_rules
from services.assessment.domain.escalation import Escalation, escalate
from services.assessment.domain.rules import RuleTable
from services.assessment.domain.tasks import holding_hospital
from services.assessment.domain.triage import latest_bands, new_reasons, triage
from services.assessment.repository import ACTIVE, CaseRepository, Change, UnknownCase
from shared.events import Event

Clock = Callable[[], datetime]
WITHDRAWN, SEEN = "withdrawn", "seen"


class CaseClosed(RuntimeError):
    """The case was withdrawn: it can no longer be triaged or planned."""


class NotAccepted(RuntimeError):
    """The referral has not been accepted (awaiting review, returned, rejected, redirected):
    it has no triage to override yet (409)."""


class StaleVersion(RuntimeError):
    """The clinician overrode a triage version that is no longer the current one."""


class ThinReason(ValueError):
    """The reason for lowering an escalated case says too little (422 naming ``reason``)."""


class CosignRefused(RuntimeError):
    """Nothing awaits a co-signature, or the requester tried to co-sign their own override (409)."""


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """The current triage, lifted to the top of the document for the queue's index and sort."""
    return {
        "band": record["band"],
        "score": record["score"],
        "target_days": record["target_days"],
        "triage_version": record["version"],
        "overridden": record["overridden"],
        "clinic_type": record["clinic_type"],
        "school_intervention": record["school_intervention"],
    }


def escalation_doc(escalation: Escalation, trigger: str) -> dict[str, Any]:
    return {
        "reasons": list(escalation.reasons),
        "contact_within_hours": escalation.contact_within_hours,
        "contact_deadline": iso(escalation.contact_deadline),
        "action": escalation.action,
        "trigger": trigger,
    }


def unrecognised_review(record: Mapping[str, Any], at: str) -> dict[str, Any] | None:
    """A review entry for codes the rule table does not know (HZ-06), or None."""
    codes = record.get("unrecognised_codes") or []
    if not codes:
        return None
    return {"reason": "unrecognised_codes", "codes": codes, "at": at, "triage_version": record["version"]}


def hospitals_of(doc: Mapping[str, Any]) -> list[str]:
    return list(((doc.get("referral") or {}).get("preferences") or {}).get("hospitals") or [])


@dataclass
class Casework:
    repo: CaseRepository
    rules: RuleTable
    clock: Clock
    review_hospitals: frozenset[str] = frozenset()
    """ASSESSMENT_REVIEW_HOSPITALS: hospitals that review referrals before acceptance."""
    review_hours: float = 72.0

    def submitted(self, event: Event) -> None:
        referral = intake.referral(event.data)
        case_id, now = referral["case_id"], self.clock()
        hospital = holding_hospital(None, hospitals_of({"referral": referral}))
        if review_rules.reviews(self.review_hospitals, hospital):
            doc, held = reviewing.awaiting(
                case_id, referral, hospital, self.rules, now, self.review_hours, iso, escalation_doc
            )
            self.repo.create(doc, held, event)  # a redelivery finds revision 1 taken
            return
        result = triage(intake.facts(referral), self.rules, now.date())
        record = versions.from_rules(1, result, versions.Audit(iso(now), trigger="referral.submitted"))
        escalation = escalate(result.risk_reasons, self.rules, now)
        events = (
            [ev.escalated(case_id, escalation, hospitals_of({"referral": referral}))] if escalation else []
        )
        doc = {
            "_id": case_id,
            "status": ACTIVE,
            "referral": referral,
            "referred_on": referral["referred_on"],
            "triage": [record],
            "escalations": [escalation_doc(escalation, "referral.submitted")] if escalation else [],
            "escalated_reasons": list(result.risk_reasons),
            "escalated": escalation is not None,
            "administrations": [],
            "attendance": {},
            "relapses": [],
            **summary(record),
        }
        if review := unrecognised_review(record, iso(now)):
            doc.update(needs_review=True, reviews=[review])
        # A redelivery finds revision 1 taken and does nothing.
        self.repo.create(doc, [*events, ev.triaged(case_id, record, referral)], event)

    def amended(self, event: Event) -> None:
        referral = intake.referral(event.data)

        def mutation(doc: dict[str, Any]) -> Change | None:
            if doc["status"] == WITHDRAWN:
                return None
            now = self.clock()
            if doc["status"] in review_rules.NOT_ACCEPTED:  # never triaged before acceptance
                hours = self.review_hours
                return reviewing.amended(doc, referral, self.rules, now, hours, iso, escalation_doc)
            bands = latest_bands(doc.get("administrations", []))
            result = triage(intake.facts(referral, bands), self.rules, now.date())
            previous = doc["triage"][-1]
            fresh = new_reasons(result.risk_reasons, doc.get("escalated_reasons", []))
            audit = versions.Audit(iso(now), trigger="referral.amended")
            computed = versions.from_rules(previous["version"] + 1, result, audit)
            record = versions.after_amendment(previous, computed, bool(fresh), self.rules)
            push: dict[str, list[Any]] = {"triage": [record]}
            review: dict[str, Any] = {}
            removed = sorted(set(doc["referral"].get("risk_flags", [])) - set(referral["risk_flags"]))
            if removed:  # the school withdrew a risk: a clinician decides, the band stays (HZ-01)
                entry = {"reason": "risk_flag_removed", "flags": removed, "at": iso(now)}
                push["reviews"] = [{**entry, "triage_version": record["version"]}]
                review["needs_review"] = True
            unknown = unrecognised_review(record, iso(now))
            if unknown and set(unknown["codes"]) - set(previous.get("unrecognised_codes") or []):
                push["reviews"] = [*push.get("reviews", []), unknown]
                review["needs_review"] = True
            events = []
            escalation = escalate(fresh, self.rules, now)
            if escalation:
                push["escalations"] = [escalation_doc(escalation, "referral.amended")]
                events.append(ev.escalated(doc["_id"], escalation, hospitals_of({"referral": referral})))
            events.append(ev.triaged(doc["_id"], record, referral))
            reasons = [*doc.get("escalated_reasons", []), *fresh]
            flags = {"escalated": bool(reasons), "escalated_reasons": reasons}
            return Change({"referral": referral, **flags, **review, **summary(record)}, push, events)

        self.repo.mutate(referral["case_id"], mutation, event)

    def decide_review(
        self,
        case_id: str,
        decision: str,
        by: str,
        details: Mapping[str, Any],
        may_act: Callable[[str | None], bool],
    ) -> dict[str, Any]:
        """A clinician of the reviewing hospital accepts, rejects, returns or redirects the referral."""

        def mutation(doc: dict[str, Any]) -> Change:
            if doc["status"] == WITHDRAWN:
                raise CaseClosed(case_id)
            reviewer = (doc.get("review") or {}).get("hospital_id", holding_hospital(None, hospitals_of(doc)))
            if not may_act(reviewer or review_rules.DEFAULT):  # 404: no oracle for other hospitals' cases
                raise reviewing.NotYourHospital(case_id)
            return reviewing.decide(
                doc, decision, by, details, self.rules, self.clock(), iso, escalation_doc, summary
            )

        return self.repo.mutate(case_id, mutation)

    def review_of(self, case_id: str, may_act: Callable[[str | None], bool]) -> dict[str, Any]:
        """The referral picture, status, round and decisions, for a clinician of the reviewing hospital."""
        doc = self.repo.get(case_id)
        if doc is None:
            raise UnknownCase(case_id)
        reviewer = (doc.get("review") or {}).get("hospital_id", holding_hospital(None, hospitals_of(doc)))
        if not may_act(reviewer or review_rules.DEFAULT):
            raise reviewing.NotYourHospital(case_id)
        fields = (
            "status",
            "referral",
            "referred_on",
            "review",
            "review_decisions",
            "escalated",
            "escalations",
        )
        return {"case_id": case_id, **{k: doc.get(k) for k in fields}}

    def withdrawn(self, event: Event) -> None:
        data = intake.Withdrawn().load(dict(event.data))

        def mutation(doc: dict[str, Any]) -> Change | None:
            if doc["status"] == WITHDRAWN:
                return None
            fields = {
                "status": WITHDRAWN,
                "withdrawn_reason": data["reason"],
                "withdrawn_at": iso(self.clock()),
            }
            return Change(fields)

        self.repo.mutate(data["case_id"], mutation, event)

    def attended(self, event: Event) -> None:
        """The child has been seen: the case leaves the triage queue (follow-up continues)."""
        data = intake.Attended().load(dict(event.data))

        def mutation(doc: dict[str, Any]) -> Change | None:
            if doc["status"] != ACTIVE:
                return None
            return Change({"status": SEEN, "seen_at": iso(self.clock())})

        self.repo.mutate(data["case_id"], mutation, event)

    def booked(self, event: Event) -> None:
        """Remember the hospital of the booking: it now holds the case (owner of its tasks, HZ-02)."""
        data = intake.Booked().load(dict(event.data))
        if not data["hospital_id"]:
            return

        def mutation(doc: dict[str, Any]) -> Change | None:
            fields = {"booked_hospital": data["hospital_id"], "booked_appointment": data["appointment_id"]}
            return Change(fields)

        self.repo.mutate(data["case_id"], mutation, event)

    def booking_cancelled(self, event: Event) -> None:
        """A cancelled booking gives the case back to its first preferred hospital."""
        data = intake.Attended().load(dict(event.data))

        def mutation(doc: dict[str, Any]) -> Change | None:
            if doc.get("booked_appointment") != data["appointment_id"]:
                return None
            return Change({"booked_hospital": None, "booked_appointment": None})

        self.repo.mutate(data["case_id"], mutation, event)

    def override(
        self, case_id: str, band: str, score: int | None, reason: str, by: str, expected_version: int | None
    ) -> dict[str, Any]:
        """Apply the override, or hold it for a second clinician when it lowers an escalated case (HZ-11).

        Returns the new triage version, or ``{"state": "awaiting_cosignature", ...}``.
        """

        def mutation(doc: dict[str, Any]) -> Change:
            if doc["status"] == WITHDRAWN:
                raise CaseClosed(case_id)
            if doc["status"] in review_rules.NOT_ACCEPTED:
                raise NotAccepted(case_id)
            current = doc["triage"][-1]
            if expected_version is not None and expected_version != current["version"]:
                raise StaleVersion(current["version"])
            now = iso(self.clock())
            if cosign.needs_cosignature(doc, band):
                if problem := cosign.reason_problem(reason):
                    raise ThinReason(problem)
                pending = {
                    "state": cosign.AWAITING,
                    "band": band,
                    "score": score,
                    "reason": reason,
                    "by": by,
                    "at": now,
                    "for_version": current["version"],
                    "from_band": current["band"],
                }
                request = {"kind": "override_requested", **pending}
                return Change({"pending_override": pending}, {"override_audit": [request]}, (), pending)
            audit = versions.Audit(now, by=by, reason=reason, trigger="override")
            return self._apply(case_id, doc, band, score, audit)

        return self.repo.mutate(case_id, mutation)

    def cosign(self, case_id: str, by: str, note: str | None, expected_version: int | None) -> dict[str, Any]:
        """A second clinician co-signs the pending override: only now does it take effect."""

        def mutation(doc: dict[str, Any]) -> Change:
            if doc["status"] == WITHDRAWN:
                raise CaseClosed(case_id)
            if doc["status"] in review_rules.NOT_ACCEPTED:
                raise NotAccepted(case_id)
            pending = doc.get("pending_override")
            if not pending:
                raise CosignRefused("No override of this case awaits a co-signature.")
            if pending["by"] == by:
                raise CosignRefused("The co-signature must come from a second clinician.")
            current = doc["triage"][-1]
            if current["version"] != pending["for_version"] or (
                expected_version is not None and expected_version != current["version"]
            ):
                raise StaleVersion(current["version"])
            now = iso(self.clock())
            audit = versions.Audit(
                pending["at"], by=pending["by"], reason=pending["reason"], trigger="override"
            )
            change = self._apply(case_id, doc, pending["band"], pending["score"], audit)
            record = {**change.result, "cosigned_by": by, "cosigned_at": now, "cosign_note": note}
            signed = {
                "kind": "override_cosigned",
                "by": by,
                "at": now,
                "note": note,
                "requested_by": pending["by"],
            }
            events = [ev.triaged(case_id, record, doc["referral"])]
            return Change(
                {**change.set, "pending_override": None},
                {"triage": [record], "override_audit": [signed]},
                events,
                record,
            )

        return self.repo.mutate(case_id, mutation)

    def _apply(
        self, case_id: str, doc: dict[str, Any], band: str, score: int | None, audit: versions.Audit
    ) -> Change:
        record = versions.overridden(doc["triage"][-1], band, score, self.rules, audit)
        events = [ev.triaged(case_id, record, doc["referral"])]
        # The clinician's decision answers any open review (HZ-01).
        fields = {**summary(record), "needs_review": False}
        return Change(fields, {"triage": [record]}, events, record)
