"""Administering instruments to a case: validate, score, store, and escalate on safety flags.

An administration, its ``assessment.completed`` event and, when a safety item is
positive (PHQ-A item 9, ASQ), the ``assessment.escalated`` event and the lift of the
case to the urgent band are one update of the case document.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.assessment import events as ev
from services.assessment import intake
from services.assessment.casework import (
    WITHDRAWN,
    CaseClosed,
    Clock,
    escalation_doc,
    hospitals_of,
    iso,
    summary,
)
from services.assessment.domain import eligibility, versions
from services.assessment.domain import instruments as scoring
from services.assessment.domain.escalation import Escalation, escalate
from services.assessment.domain.instruments import Instrument
from services.assessment.domain.rules import RuleTable
from services.assessment.domain.triage import latest_bands, triage
from services.assessment.repository import ACTIVE, CaseRepository, Change, UnknownCase


class LicenceRequired(PermissionError):
    """The network holds no licence for this instrument (ASSESSMENT_LICENSED_INSTRUMENTS)."""


class InvalidResponses(ValueError):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("responses do not fit the instrument")
        self.errors = errors


@dataclass
class Measurement:
    repo: CaseRepository
    rules: RuleTable
    clock: Clock
    instruments: Mapping[str, Instrument]
    licensed: frozenset[str]
    tie_margin: float | None = None

    def record(
        self,
        case_id: str,
        instrument: Instrument,
        informant: str,
        responses: Mapping[str, scoring.Response],
        by: str,
    ) -> dict[str, Any]:
        if instrument.requires_licence and instrument.id not in self.licensed:
            raise LicenceRequired(instrument.id)
        errors = scoring.validate(instrument, responses, informant)
        if errors:
            raise InvalidResponses(errors)
        responses = scoring.normalise(instrument, responses)
        result = scoring.score(instrument, responses, informant, self.tie_margin)

        def mutation(doc: dict[str, Any]) -> Change:
            if doc["status"] == WITHDRAWN:
                raise CaseClosed(case_id)
            now = self.clock()
            if eligibility.certainly_outside(instrument, informant, doc["referral"], now.date()):
                valid = instrument.age_range(informant)
                raise InvalidResponses(
                    {
                        "instrument": [
                            f"Validated for ages {valid[0]}-{valid[1]} only; this child is outside it."
                        ]
                    }
                )
            n = 1 + sum(1 for a in doc.get("administrations", []) if a["instrument"] == instrument.id)
            administration = {
                "n": n,
                "instrument": instrument.id,
                "instrument_version": instrument.version,
                "informant": informant,
                "responses": dict(responses),
                "scores": result.scores,
                "bands": result.bands,
                "flags": result.flags,
                "declined": result.declined,
                "at": iso(now),
                "by": by,
            }
            push: dict[str, list[Any]] = {"administrations": [administration]}
            fields: dict[str, Any] = {}
            events = [ev.completed(case_id, administration)]
            trigger = f"instrument:{instrument.id}#{n}"
            escalation = escalate(self._to_escalate(doc, instrument, result.escalate), self.rules, now)
            if escalation:
                push["escalations"] = [escalation_doc(escalation, trigger)]
                events.append(ev.escalated(case_id, escalation, hospitals_of(doc)))
                reasons = list(dict.fromkeys([*doc.get("escalated_reasons", []), *escalation.reasons]))
                fields.update(escalated=True, escalated_reasons=reasons)
            if doc["status"] == ACTIVE:
                administrations = [*doc.get("administrations", []), administration]
                record = self._retriaged(doc, administrations, escalation, trigger, now)
                if record is not None:
                    push["triage"] = [record]
                    fields.update(summary(record))
                    events.append(ev.triaged(case_id, record, doc["referral"]))
            return Change(fields, push, events, administration)

        return self.repo.mutate(case_id, mutation)

    @staticmethod
    def _to_escalate(doc: Mapping[str, Any], instrument: Instrument, fired: list[str]) -> list[str]:
        """The flags that escalate now: a once-per-case flag already escalated (a lifetime attempt)
        escalates again only beside another positive risk answer (HZ-12, against alert fatigue)."""
        once, already = instrument.once_per_case(), set(doc.get("escalated_reasons", []))
        fresh = [r for r in fired if not (r in once and r in already)]
        return fired if fresh else []

    def _retriaged(
        self,
        doc: Mapping[str, Any],
        administrations: list[Mapping[str, Any]],
        escalation: Escalation | None,
        trigger: str,
        now: datetime,
    ) -> dict[str, Any] | None:
        """The case's next triage version now that an instrument is scored, or None if nothing changed.

        Severity bands are triage factors (HZ-05), so the rules run again with the case's
        latest bands; an override or a safety floor holds as on an amendment (HZ-01), and a
        safety flag lifts the result to the escalation band.
        """
        current = doc["triage"][-1]
        facts = intake.facts(doc["referral"], latest_bands(administrations))
        reason = "instrument safety flag" if escalation else "instrument scored"
        audit = versions.Audit(iso(now), trigger=trigger, reason=reason)
        computed = versions.from_rules(current["version"] + 1, triage(facts, self.rules, now.date()), audit)
        record = versions.after_amendment(current, computed, False, self.rules)
        if escalation:
            band = self.rules.band(self.rules.escalation_band)
            record = versions.raised_for_safety(
                {**record, "version": current["version"]},
                band.band,
                band.target_days,
                list(escalation.reasons),
                audit,
            )
            if current["band"] == band.band and not _changed(current, record):
                return None
            return record
        return record if _changed(current, record) else None

    def trajectory(self, case_id: str, instrument: Instrument) -> dict[str, Any]:
        """Scores over repeated administrations, the change per informant, and a combined profile."""
        doc = self.repo.get(case_id, {"administrations": 1})
        if doc is None:
            raise UnknownCase(case_id)
        points = [
            {k: a[k] for k in ("n", "at", "informant", "instrument_version", "scores", "bands", "flags")}
            for a in doc.get("administrations", [])
            if a["instrument"] == instrument.id
        ]
        change: dict[str, dict[str, float]] = {}
        latest: dict[str, dict[str, float]] = {}
        for informant in dict.fromkeys(p["informant"] for p in points):
            mine = [p for p in points if p["informant"] == informant]
            first, last = mine[0]["scores"], mine[-1]["scores"]
            latest[informant] = last
            if len(mine) > 1:
                change[informant] = {s: round(last[s] - first[s], 2) for s in last if s in first}
        body: dict[str, Any] = {
            "case_id": case_id,
            "instrument": instrument.id,
            "points": points,
            "change": change,
        }
        if instrument.profile is not None and latest:
            scales = instrument.profile.scales
            combined = scoring.combine(list(latest.values()), scales)
            margin = self.tie_margin if self.tie_margin is not None else instrument.profile.tie_margin
            body["combined_profile"] = {
                "informants": list(latest),
                "means": combined,
                "profile": scoring.primary(combined, scales, margin),
            }
        return body


def _changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Whether a re-triage changed what the queue or the clinician sees."""
    keys = ("band", "score", "target_days", "factors", "risk_reasons", "clinic_type", "school_intervention")
    return any(before.get(k) != after.get(k) for k in keys)
