"""Standardised instruments as data: items, response scales, subscales, cut-offs, safety flags.

An instrument is parsed once from instruments/<id>.json. Responses are validated
against it (every required item answered, each with a value of its scale), then
scored: subscale sums, means or counts, severity bands from the cut-offs, flags from
item or score rules, and an optional profile (the SRAS-R's primary function).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MIXED = "mixed"


@dataclass(frozen=True)
class Item:
    id: str
    scale: str
    text: str | None = None
    required: bool = True
    reverse: bool = False


@dataclass(frozen=True)
class Subscale:
    code: str
    items: tuple[str, ...]
    method: str = "sum"  # sum | mean | count
    count_values: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Band:
    low: float
    high: float
    label: str


@dataclass(frozen=True)
class FlagRule:
    code: str
    items: tuple[str, ...] = ()
    values: frozenset[int] = frozenset()
    scale: str | None = None
    gte: float | None = None
    escalate: bool = False

    def fires(self, responses: Mapping[str, int], scores: Mapping[str, float]) -> bool:
        if self.scale is not None:
            return self.gte is not None and scores.get(self.scale, float("-inf")) >= self.gte
        answered = [responses[i] for i in self.items if i in responses]
        if self.gte is not None:
            return any(v >= self.gte for v in answered)
        return any(v in self.values for v in answered)


@dataclass(frozen=True)
class Profile:
    """The highest of some subscales is the primary one; near-ties make a mixed profile."""

    scales: tuple[str, ...]
    tie_margin: float = 0.25


@dataclass(frozen=True)
class Instrument:
    id: str
    version: str
    name: str
    informants: tuple[str, ...]
    licence: Mapping[str, Any]
    requires_licence: bool
    scales: Mapping[str, Mapping[int, str]]
    items: tuple[Item, ...]
    subscales: tuple[Subscale, ...]
    cutoffs: Mapping[str, Mapping[str, tuple[Band, ...]]] = field(default_factory=dict)
    flags: tuple[FlagRule, ...] = ()
    profile: Profile | None = None
    stem: str | None = None
    notes: str = ""

    def item(self, item_id: str) -> Item | None:
        return next((i for i in self.items if i.id == item_id), None)


@dataclass(frozen=True)
class Result:
    scores: dict[str, float]
    bands: dict[str, str]
    flags: list[str]
    escalate: list[str]


def validate(instrument: Instrument, responses: Mapping[str, int], informant: str) -> dict[str, list[str]]:
    """Field errors keyed like the request (``responses.9``); empty when the responses fit."""
    errors: dict[str, list[str]] = {}
    if informant not in instrument.informants:
        errors["informant"] = [f"Must be one of: {', '.join(instrument.informants)}."]
    for item_id, value in responses.items():
        item = instrument.item(item_id)
        if item is None:
            errors[f"responses.{item_id}"] = ["Unknown item for this instrument."]
        elif value not in instrument.scales[item.scale]:
            allowed = ", ".join(str(v) for v in instrument.scales[item.scale])
            errors[f"responses.{item_id}"] = [f"Must be one of: {allowed}."]
    for item in instrument.items:
        if item.required and item.id not in responses:
            errors[f"responses.{item.id}"] = ["Missing data for required item."]
    return errors


def score(
    instrument: Instrument, responses: Mapping[str, int], informant: str, tie_margin: float | None = None
) -> Result:
    """Score validated responses."""
    scores: dict[str, float] = {}
    for sub in instrument.subscales:
        values = [_scored(instrument, i, responses[i]) for i in sub.items if i in responses]
        if sub.method == "count":
            scores[sub.code] = sum(1 for i in sub.items if responses.get(i) in sub.count_values)
        elif sub.method == "mean":
            scores[sub.code] = round(sum(values) / len(values), 2) if values else 0.0
        else:
            scores[sub.code] = sum(values)
    bands = {
        scale: label for scale in scores if (label := band_of(instrument, scale, scores[scale], informant))
    }
    if instrument.profile is not None:
        margin = instrument.profile.tie_margin if tie_margin is None else tie_margin
        bands["profile"] = primary(scores, instrument.profile.scales, margin)
    fired = [rule for rule in instrument.flags if rule.fires(responses, scores)]
    return Result(scores, bands, [r.code for r in fired], [r.code for r in fired if r.escalate])


def band_of(instrument: Instrument, scale: str, value: float, informant: str) -> str | None:
    table = instrument.cutoffs.get(scale, {})
    for band in table.get(informant, table.get("*", ())):
        if band.low <= value <= band.high:
            return band.label
    return None


def primary(means: Mapping[str, float], scales: tuple[str, ...], tie_margin: float) -> str:
    """The highest-scoring scale, or ``mixed`` when the runner-up is within ``tie_margin``."""
    ranked = sorted(((means[s], s) for s in scales if s in means), reverse=True)
    if not ranked:
        return MIXED
    if len(ranked) > 1 and ranked[0][0] - ranked[1][0] < tie_margin:
        return MIXED
    return ranked[0][1]


def combine(means_by_informant: list[Mapping[str, float]], scales: tuple[str, ...]) -> dict[str, float]:
    """Average each scale over informants (SRAS-R: child and parent means are averaged)."""
    combined = {}
    for scale in scales:
        values = [m[scale] for m in means_by_informant if scale in m]
        if values:
            combined[scale] = round(sum(values) / len(values), 2)
    return combined


def _scored(instrument: Instrument, item_id: str, value: int) -> int:
    item = instrument.item(item_id)
    if item is None or not item.reverse:
        return value
    options = instrument.scales[item.scale]
    return max(options) + min(options) - value
