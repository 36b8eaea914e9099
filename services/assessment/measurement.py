"""Administering instruments to a case: validate, score, store, and escalate on safety flags.

An administration, its ``assessment.completed`` event and, when a safety item is
positive (PHQ-A item 9, ASQ), the ``assessment.escalated`` event and the lift of the
case to the urgent band are one update of the case document.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.assessment import events as ev
from services.assessment.casework import (
    WITHDRAWN,
    CaseClosed,
    Clock,
    escalation_doc,
    hospitals_of,
    iso,
    summary,
)
from services.assessment.domain import instruments as scoring
from services.assessment.domain import versions
from services.assessment.domain.escalation import escalate
from services.assessment.domain.instruments import Instrument
from services.assessment.domain.rules import RuleTable
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
        self, case_id: str, instrument: Instrument, informant: str, responses: Mapping[str, int], by: str
    ) -> dict[str, Any]:
        if instrument.requires_licence and instrument.id not in self.licensed:
            raise LicenceRequired(instrument.id)
        errors = scoring.validate(instrument, responses, informant)
        if errors:
            raise InvalidResponses(errors)
        result = scoring.score(instrument, responses, informant, self.tie_margin)

        def mutation(doc: dict[str, Any]) -> Change:
            if doc["status"] == WITHDRAWN:
                raise CaseClosed(case_id)
            now = self.clock()
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
                "at": iso(now),
                "by": by,
            }
            push: dict[str, list[Any]] = {"administrations": [administration]}
            fields: dict[str, Any] = {}
            events = [ev.completed(case_id, administration)]
            escalation = escalate(result.escalate, self.rules, now)
            if escalation:
                trigger = f"instrument:{instrument.id}#{n}"
                push["escalations"] = [escalation_doc(escalation, trigger)]
                events.append(ev.escalated(case_id, escalation, hospitals_of(doc)))
                reasons = list(dict.fromkeys([*doc.get("escalated_reasons", []), *escalation.reasons]))
                fields.update(escalated=True, escalated_reasons=reasons)
                current = doc["triage"][-1]
                if doc["status"] == ACTIVE and current["band"] != self.rules.escalation_band:
                    band = self.rules.band(self.rules.escalation_band)
                    audit = versions.Audit(iso(now), trigger=trigger, reason="instrument safety flag")
                    record = versions.raised_for_safety(
                        current, band.band, band.target_days, list(escalation.reasons), audit
                    )
                    push["triage"] = [record]
                    fields.update(summary(record))
                    events.append(ev.triaged(case_id, record, doc["referral"]))
            return Change(fields, push, events, administration)

        return self.repo.mutate(case_id, mutation)

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
