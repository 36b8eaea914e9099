"""Triage versions: the automatic result, a clinician's override, and how an amendment meets an override.

A case's triage is a list of versions, never edited in place. Each version records
what produced it (rules, an override, an instrument flag), by whom, when and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.assessment.domain.rules import RuleTable
from services.assessment.domain.triage import Triage, more_urgent

SYSTEM = "system"


@dataclass(frozen=True)
class Audit:
    at: str
    by: str = SYSTEM
    reason: str | None = None
    trigger: str = "rules"


def from_rules(version: int, result: Triage, audit: Audit) -> dict[str, Any]:
    """A triage version straight from the rule table."""
    return {
        "version": version,
        "band": result.band,
        "score": result.score,
        "target_days": result.target_days,
        "rule_version": result.rule_version,
        "factors": [{"code": f.code, "points": f.points, "value": f.value} for f in result.factors],
        "clinic_type": result.clinic_type,
        "school_intervention": result.school_intervention,
        "risk_reasons": list(result.risk_reasons),
        "safety_floor": result.band if result.risk_reasons else None,
        "unrecognised_codes": list(result.unrecognised),
        "overridden": False,
        **_audit(audit),
    }


def safety_floor(record: Mapping[str, Any]) -> str | None:
    """The band below which only a clinician may take the case (hazard HZ-01).

    Set by a risk flag, an instrument's safety flag or a clinician's decision; versions
    stored before the floor existed fall back to their band when they carried a risk.
    """
    if "safety_floor" in record:
        return record["safety_floor"]
    return record["band"] if record.get("risk_reasons") or record.get("overridden") else None


def overridden(
    current: Mapping[str, Any], band: str, score: int | None, rules: RuleTable, audit: Audit
) -> dict[str, Any]:
    """A clinician's override: same factors, the clinician's band (and optionally score).

    The clinician's band becomes the safety floor: an override is the only way a band
    raised for safety is ever lowered, and a band a clinician raised stays raised.
    """
    kept = {k: v for k, v in current.items() if k not in ("override_kept_from", "held_for_safety")}
    return {
        **kept,
        "version": current["version"] + 1,
        "band": band,
        "score": current["score"] if score is None else score,
        "target_days": rules.band(band).target_days,
        "safety_floor": band,
        "overridden": True,
        **_audit(audit),
    }


def after_amendment(
    previous: Mapping[str, Any] | None, computed: dict[str, Any], new_risk: bool, rules: RuleTable
) -> dict[str, Any]:
    """An override stays in force through an amendment, unless the amendment brings a new risk;
    and a band raised for safety is never lowered by an amendment (hazard HZ-01).

    The factors and score are always refreshed from the rules, so the clinician still
    sees what changed; only the band (and its target) stays the clinician's, or is held
    at the safety floor (``held_for_safety``) with the risk reasons that set it.
    """
    if previous is None:
        return computed
    floor = _most_urgent(safety_floor(previous), computed["safety_floor"])
    reasons = list(dict.fromkeys([*previous.get("risk_reasons", []), *computed["risk_reasons"]]))
    if previous.get("overridden") and not new_risk:
        return {
            **computed,
            "band": previous["band"],
            "target_days": previous["target_days"],
            "risk_reasons": reasons,
            "safety_floor": safety_floor(previous),
            "overridden": True,
            "override_kept_from": previous["version"],
        }
    if floor is None or not more_urgent(floor, computed["band"]):
        return {**computed, "risk_reasons": reasons, "safety_floor": floor}
    return {
        **computed,
        "band": floor,
        "target_days": rules.band(floor).target_days,
        "risk_reasons": reasons,
        "safety_floor": floor,
        "held_for_safety": floor,
    }


def _most_urgent(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a or b
    return a if more_urgent(a, b) else b


def raised_for_safety(
    current: Mapping[str, Any], band: str, target_days: int, flags: list[str], audit: Audit
) -> dict[str, Any]:
    """An instrument's safety flag lifts the case to the escalation band (factors gain the flags)."""
    factors = list(current["factors"]) + [{"code": flag, "points": 0, "value": True} for flag in flags]
    return {
        **current,
        "version": current["version"] + 1,
        "band": band,
        "target_days": target_days,
        "factors": factors,
        "risk_reasons": list(dict.fromkeys([*current.get("risk_reasons", []), *flags])),
        "safety_floor": band,
        "overridden": False,
        **_audit(audit),
    }


def _audit(audit: Audit) -> dict[str, Any]:
    return {"at": audit.at, "by": audit.by, "reason": audit.reason, "trigger": audit.trigger}
