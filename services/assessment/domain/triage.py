"""Explainable triage: a referral's facts through the rule table to a band, a score and factors.

Safety first: any factor marked ``escalate`` (a risk indicator) puts the case in the
escalation band whatever its score. Otherwise the points of every matching factor add
up to a 0-100 score, the score picks the band, and within a band the score orders the
queue. Every triage keeps the factors, their points and the table version, so anyone
can see why a child is where they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from services.assessment.domain.rules import BAND_ORDER, Factor, RuleTable

DAYS_COUNTED = 20
SCHOOL_REFUSAL = "school_refusal"
UNRECOGNISED_RISK = "unrecognised_risk_flag"


@dataclass(frozen=True)
class ReferralFacts:
    """The non-identifying facts triage needs, as carried by referral.submitted/amended."""

    referred_on: date
    absence_start: date | None = None
    days_missed_last_20: int = 0
    partial_days_last_20: int = 0
    return_attempts: int = 0
    risk_flags: frozenset[str] = frozenset()
    impairments: frozenset[str] = frozenset()
    concerns: frozenset[str] = frozenset()
    exam_year: bool = False
    transition_year: bool = False
    instrument_bands: Mapping[str, str] = field(default_factory=dict)
    """``<instrument>:<scale>`` → the latest severity band scored for the case (e.g. PHQ-A total)."""

    def absence_weeks(self, as_of: date) -> float:
        if self.absence_start is None:
            return 0.0
        return max(0, (as_of - self.absence_start).days) / 7

    @property
    def missed_share(self) -> float:
        """Share of the last 20 school days missed; a partial day counts as half."""
        missed = self.days_missed_last_20 + 0.5 * self.partial_days_last_20
        return min(1.0, max(0.0, missed / DAYS_COUNTED))


@dataclass(frozen=True)
class ScoredFactor:
    code: str
    points: int
    value: float | bool | str


@dataclass(frozen=True)
class Triage:
    band: str
    score: int
    target_days: int
    rule_version: str
    factors: tuple[ScoredFactor, ...]
    clinic_type: str = SCHOOL_REFUSAL
    school_intervention: bool = False
    risk_reasons: tuple[str, ...] = field(default_factory=tuple)
    unrecognised: tuple[str, ...] = field(default_factory=tuple)
    """``<kind>:<code>`` the table does not know: a clinician reviews them (HZ-06)."""


def triage(facts: ReferralFacts, rules: RuleTable, as_of: date) -> Triage:
    """Apply every factor of the table to the facts; absence is counted up to ``as_of``."""
    scored: list[ScoredFactor] = []
    reasons: list[str] = []
    sets: dict[str, object] = {}
    for factor in rules.factors:
        hit = _evaluate(factor, facts, as_of)
        if hit is None:
            continue
        scored.append(hit)
        sets.update(factor.sets)
        if factor.escalate:
            reasons.append(factor.escalate)
    unrecognised = unrecognised_codes(facts, rules)
    if any(code.startswith("risk_flags:") for code in unrecognised):
        reasons.append(UNRECOGNISED_RISK)  # a risk triage cannot read is still a risk
    score = min(100, sum(f.points for f in scored))
    band = rules.band(rules.escalation_band) if reasons else rules.band_for_score(score)
    return Triage(
        band=band.band,
        score=score,
        target_days=band.target_days,
        rule_version=rules.version,
        factors=tuple(scored),
        clinic_type=str(sets.get("clinic_type", SCHOOL_REFUSAL)),
        school_intervention=bool(sets.get("school_intervention", False)),
        risk_reasons=tuple(reasons),
        unrecognised=unrecognised,
    )


def unrecognised_codes(facts: ReferralFacts, rules: RuleTable) -> tuple[str, ...]:
    given = {"risk_flags": facts.risk_flags, "concerns": facts.concerns, "impairments": facts.impairments}
    return tuple(
        sorted(f"{kind}:{code}" for kind, codes in given.items() for code in codes - rules.vocabulary[kind])
    )


def _evaluate(factor: Factor, facts: ReferralFacts, as_of: date) -> ScoredFactor | None:
    measure = factor.measure
    if measure == "absence_weeks":
        return _stepped(factor, round(facts.absence_weeks(as_of), 1))
    if measure == "missed_share":
        return _stepped(factor, round(facts.missed_share, 3))
    if measure == "return_attempts":
        return _stepped(factor, facts.return_attempts)
    if measure == "concern":
        matched = sorted(factor.any_of & facts.concerns)
        return ScoredFactor(factor.code, factor.points, ",".join(matched)) if matched else None
    kind, _, name = measure.partition(":")
    if kind == "instrument":
        label = facts.instrument_bands.get(name)
        points = factor.levels.get(label) if label else None
        return ScoredFactor(factor.code, points, label) if points and label else None
    present = {
        "risk": name in facts.risk_flags,
        "impairment": name in facts.impairments,
        "exam_year": facts.exam_year,
        "transition_year": facts.transition_year,
    }[kind]
    return ScoredFactor(factor.code, factor.points, True) if present else None


def _stepped(factor: Factor, value: float) -> ScoredFactor | None:
    """Points of the highest step the value reaches; None below the first step."""
    points = None
    for threshold, step_points in factor.steps:
        if value >= threshold:
            points = step_points
    return None if points is None else ScoredFactor(factor.code, points, value)


def latest_bands(administrations: Iterable[Mapping[str, object]]) -> dict[str, str]:
    """The latest severity band per ``<instrument>:<scale>`` over a case's administrations (in order)."""
    bands: dict[str, str] = {}
    for administration in administrations:
        for scale, label in dict(administration.get("bands") or {}).items():  # type: ignore[call-overload]
            bands[f"{administration['instrument']}:{scale}"] = str(label)
    return bands


def more_urgent(a: str, b: str) -> bool:
    """True when band ``a`` is more urgent than band ``b``."""
    return BAND_ORDER.index(a) < BAND_ORDER.index(b)


def new_reasons(current: Sequence[str], already: Sequence[str]) -> list[str]:
    """Risk reasons not escalated before: only these raise a new escalation."""
    return [r for r in current if r not in set(already)]
