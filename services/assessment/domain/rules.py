"""The triage rule table as typed data: versioned, transparent, loaded from rules/*.json.

Clinicians and network managers read and change the table, not the code: every triage
stores the table's version next to the factors and points it produced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

BAND_ORDER = ("P1", "P2", "P3")
NUMERIC_MEASURES = frozenset({"absence_weeks", "missed_share", "return_attempts"})
FLAG_MEASURES = frozenset({"exam_year", "transition_year"})
PREFIXED_MEASURES = ("risk:", "impairment:")
VOCABULARY_KINDS = ("risk_flags", "concerns", "impairments")
INSTRUMENT_MEASURE = "instrument:"
"""``instrument:<id>:<scale>``: the latest severity band of a scored instrument (e.g. PHQ-A total)."""


class RuleTableError(ValueError):
    """The rule table is malformed; the service refuses to start with it."""


@dataclass(frozen=True)
class Band:
    band: str
    label: str
    min_score: int
    target_days: int


@dataclass(frozen=True)
class Factor:
    code: str
    measure: str
    points: int = 0
    steps: tuple[tuple[float, int], ...] = ()
    any_of: frozenset[str] = frozenset()
    sets: Mapping[str, Any] = field(default_factory=dict)
    escalate: str | None = None
    levels: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleTable:
    version: str
    bands: tuple[Band, ...]
    factors: tuple[Factor, ...]
    escalation_band: str
    default_contact_hours: int
    contact_hours: Mapping[str, int]
    actions: Mapping[str, str] = field(default_factory=dict)
    default_action: str = "contact_family"
    vocabulary: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """The referral codes triage knows (``risk_flags``, ``concerns``, ``impairments``), scoring or not:
    any other code is unrecognised and goes to a clinician, never counted as zero (HZ-06)."""

    def action_for(self, reason: str) -> str:
        """What the contact must do for this reason (e.g. ``emergency_evaluation_now``)."""
        return self.actions.get(reason, self.default_action)

    def band(self, code: str) -> Band:
        for band in self.bands:
            if band.band == code:
                return band
        raise KeyError(code)

    def band_for_score(self, score: int) -> Band:
        """The first band (most urgent first) whose minimum the score reaches."""
        for band in sorted(self.bands, key=lambda b: -b.min_score):
            if score >= band.min_score:
                return band
        return self.bands[-1]

    def hours_for(self, reason: str) -> int:
        return self.contact_hours.get(reason, self.default_contact_hours)

    def configured(
        self, target_days: Mapping[str, int] | None = None, contact_hours: Mapping[str, int] | None = None
    ) -> RuleTable:
        """The table with the network's configured target waits and contact deadlines applied."""
        targets = target_days or {}
        unknown = set(targets) - {b.band for b in self.bands}
        if unknown:
            raise RuleTableError(f"target days for unknown bands: {sorted(unknown)}")
        bands = tuple(replace(b, target_days=targets.get(b.band, b.target_days)) for b in self.bands)
        hours = dict(self.contact_hours)
        default = self.default_contact_hours
        for reason, value in (contact_hours or {}).items():
            if reason == "default":
                default = value
            else:
                hours[reason] = value
        return replace(self, bands=bands, contact_hours=hours, default_contact_hours=default)


def parse(doc: Mapping[str, Any]) -> RuleTable:
    """Build and check a rule table from its JSON form."""
    try:
        bands = tuple(
            Band(b["band"], b["label"], int(b["min_score"]), int(b["target_days"])) for b in doc["bands"]
        )
        factors = tuple(_factor(f) for f in doc["factors"])
        escalation = doc["escalation"]
        table = RuleTable(
            version=str(doc["version"]),
            bands=bands,
            factors=factors,
            escalation_band=escalation["band"],
            default_contact_hours=int(escalation["default_hours"]),
            contact_hours={k: int(v) for k, v in escalation.get("hours", {}).items()},
            actions={str(k): str(v) for k, v in escalation.get("actions", {}).items()},
            default_action=str(escalation.get("default_action", "contact_family")),
            vocabulary={k: frozenset(map(str, v)) for k, v in doc["vocabulary"].items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RuleTableError(f"malformed rule table: {exc!r}") from None
    if tuple(b.band for b in bands) != BAND_ORDER:
        raise RuleTableError(f"bands must be {BAND_ORDER} in that order")
    if not any(b.min_score == 0 for b in bands):
        raise RuleTableError("one band must start at score 0")
    codes = [f.code for f in factors]
    if len(set(codes)) != len(codes):
        raise RuleTableError("factor codes must be unique")
    if set(table.vocabulary) != set(VOCABULARY_KINDS):
        raise RuleTableError(f"vocabulary must list exactly {VOCABULARY_KINDS}")
    unlisted = _factor_codes(factors) - {f"{k}:{c}" for k, cs in table.vocabulary.items() for c in cs}
    if unlisted:
        raise RuleTableError(f"factors use codes missing from the vocabulary: {sorted(unlisted)}")
    return table


def _factor_codes(factors: tuple[Factor, ...]) -> set[str]:
    found = {f"concerns:{c}" for f in factors if f.measure == "concern" for c in f.any_of}
    for f in factors:
        kind, _, name = f.measure.partition(":")
        if kind in ("risk", "impairment"):
            found.add(f"{'risk_flags' if kind == 'risk' else 'impairments'}:{name}")
    return found


def _factor(doc: Mapping[str, Any]) -> Factor:
    measure = doc["measure"]
    known = (
        measure in NUMERIC_MEASURES
        or measure in FLAG_MEASURES
        or measure == "concern"
        or measure.startswith(PREFIXED_MEASURES)
        or (measure.startswith(INSTRUMENT_MEASURE) and measure.count(":") == 2)
    )
    if not known:
        raise ValueError(f"unknown measure {measure!r} in factor {doc.get('code')!r}")
    if measure in NUMERIC_MEASURES and not doc.get("steps"):
        raise ValueError(f"numeric factor {doc['code']!r} needs steps")
    if measure.startswith(INSTRUMENT_MEASURE) and not doc.get("levels"):
        raise ValueError(f"instrument factor {doc['code']!r} needs levels (severity band → points)")
    steps = tuple(sorted((float(t), int(p)) for t, p in doc.get("steps", ())))
    return Factor(
        code=doc["code"],
        measure=measure,
        points=int(doc.get("points", 0)),
        steps=steps,
        any_of=frozenset(doc.get("any_of", ())),
        sets=dict(doc.get("sets", {})),
        escalate=doc.get("escalate"),
        levels={str(k): int(v) for k, v in doc.get("levels", {}).items()},
    )
