"""Triage versions: the automatic result, a clinician's override, and how an amendment meets an override.

A case's triage is a list of versions, never edited in place. Each version records
what produced it (rules, an override, an instrument flag), by whom, when and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.assessment.domain.rules import RuleTable
from services.assessment.domain.triage import Triage

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
        "overridden": False,
        **_audit(audit),
    }


def overridden(
    current: Mapping[str, Any], band: str, score: int | None, rules: RuleTable, audit: Audit
) -> dict[str, Any]:
    """A clinician's override: same factors, the clinician's band (and optionally score)."""
    kept = {k: v for k, v in current.items() if k != "override_kept_from"}
    return {
        **kept,
        "version": current["version"] + 1,
        "band": band,
        "score": current["score"] if score is None else score,
        "target_days": rules.band(band).target_days,
        "overridden": True,
        **_audit(audit),
    }


def after_amendment(
    previous: Mapping[str, Any] | None, computed: dict[str, Any], new_risk: bool
) -> dict[str, Any]:
    """An override stays in force through an amendment, unless the amendment brings a new risk.

    The factors and score are always refreshed from the rules, so the clinician still
    sees what changed; only the band (and its target) stays the clinician's.
    """
    if previous is None or not previous.get("overridden") or new_risk:
        return computed
    return {
        **computed,
        "band": previous["band"],
        "target_days": previous["target_days"],
        "overridden": True,
        "override_kept_from": previous["version"],
    }


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
        "overridden": False,
        **_audit(audit),
    }


def _audit(audit: Audit) -> dict[str, Any]:
    return {"at": audit.at, "by": audit.by, "reason": audit.reason, "trigger": audit.trigger}
