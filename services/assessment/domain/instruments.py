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
DECLINED = "declined"
"""Accepted for any item whose scale has a declined option; stored as that option's code."""
Response = int | str


@dataclass(frozen=True)
class Item:
    id: str
    scale: str
    text: str | None = None
    required: bool = True
    reverse: bool = False
    required_when: tuple[tuple[str, ...], frozenset[int]] | None = None
    """Required when any of these items has one of these values (the ASQ's item 5)."""
    confidential: bool = False
    """Asked of the young person only (suicide items: PHQ-A 9, 12, 13; the ASQ): never on a guardian's page."""


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
    unanswered: bool = False
    """Fires when any of its items is missing or declined: a safety item left blank is never negative."""
    sets_band: Mapping[str, str] = field(default_factory=dict)
    once_per_case: bool = False
    """Escalates the first time only (a lifetime attempt); later it is recorded, not re-escalated."""

    def fires(
        self,
        responses: Mapping[str, int],
        scores: Mapping[str, float],
        declined: frozenset[str] = frozenset(),
    ) -> bool:
        if self.unanswered:
            return any(i not in responses or i in declined for i in self.items)
        if self.scale is not None:
            return self.gte is not None and scores.get(self.scale, float("-inf")) >= self.gte
        if self.gte is not None:  # a declined code is not a frequency: never compared as one
            return any(responses[i] >= self.gte for i in self.items if i in responses and i not in declined)
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
    declined_codes: Mapping[str, int] = field(default_factory=dict)
    """Scale name → the code of its "declined to answer" option, for scales that have one."""
    ages: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    """Validated age range (whole years, inclusive) per informant form; ``*`` for every form (HZ-04)."""
    translations: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Language tag → ``{name, stem, items: {id: text}, scales: {scale: {code: label}}}``."""

    def age_range(self, informant: str) -> tuple[int, int] | None:
        return self.ages.get(informant, self.ages.get("*"))

    def confidential_items(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.items if i.confidential)

    def item(self, item_id: str) -> Item | None:
        return next((i for i in self.items if i.id == item_id), None)

    def once_per_case(self) -> frozenset[str]:
        return frozenset(rule.code for rule in self.flags if rule.once_per_case)

    def declined_code(self, item_id: str) -> int | None:
        item = self.item(item_id)
        return None if item is None else self.declined_codes.get(item.scale)


@dataclass(frozen=True)
class Result:
    scores: dict[str, float]
    bands: dict[str, str]
    flags: list[str]
    escalate: list[str]
    declined: list[str] = field(default_factory=list)


def normalise(instrument: Instrument, responses: Mapping[str, Response]) -> dict[str, Any]:
    """``"declined"`` → the item's declined code; anything else is left for :func:`validate` to judge."""
    out: dict[str, Any] = {}
    for item_id, value in responses.items():
        code = instrument.declined_code(item_id) if value == DECLINED else None
        out[item_id] = value if code is None else code
    return out


def declined_items(instrument: Instrument, responses: Mapping[str, Any]) -> list[str]:
    return [
        i
        for i, v in responses.items()
        if (code := instrument.declined_code(i)) is not None and v == code and not isinstance(v, bool)
    ]


def validate(
    instrument: Instrument, responses: Mapping[str, Response], informant: str
) -> dict[str, list[str]]:
    """Field errors keyed like the request (``responses.9``); empty when the responses fit."""
    responses = normalise(instrument, responses)
    errors: dict[str, list[str]] = {}
    if informant not in instrument.informants:
        errors["informant"] = [f"Must be one of: {', '.join(instrument.informants)}."]
    for item_id, value in responses.items():
        item = instrument.item(item_id)
        if item is None:
            errors[f"responses.{item_id}"] = ["Unknown item for this instrument."]
        elif isinstance(value, bool) or value not in instrument.scales[item.scale]:
            allowed = [str(v) for v in instrument.scales[item.scale]]
            if item.scale in instrument.declined_codes:
                allowed.append(DECLINED)
            errors[f"responses.{item_id}"] = [f"Must be one of: {', '.join(allowed)}."]
    for item in instrument.items:
        if item.id in responses:
            continue
        if item.required:
            errors[f"responses.{item.id}"] = ["Missing data for required item."]
        elif item.required_when and any(
            responses.get(i) in item.required_when[1] for i in item.required_when[0]
        ):
            items, values = item.required_when
            errors[f"responses.{item.id}"] = [
                f"Required when any of items {', '.join(items)} is {_labels(instrument, items[0], values)}."
            ]
    return errors


def _labels(instrument: Instrument, item_id: str, values: frozenset[int]) -> str:
    item = instrument.item(item_id)
    scale = instrument.scales[item.scale] if item else {}
    return " or ".join(repr(scale.get(v, str(v))) for v in sorted(values))


def score(
    instrument: Instrument, responses: Mapping[str, Response], informant: str, tie_margin: float | None = None
) -> Result:
    """Score validated responses.

    A declined answer is never added to a sum or mean (it is not a zero), and a safety
    item that is missing or declined fires its ``unanswered`` flag: never read as negative.
    """
    responses = normalise(instrument, responses)
    declined = declined_items(instrument, responses)
    scores: dict[str, float] = {}
    for sub in instrument.subscales:
        values = [
            _scored(instrument, i, responses[i]) for i in sub.items if i in responses and i not in declined
        ]
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
    fired = [rule for rule in instrument.flags if rule.fires(responses, scores, frozenset(declined))]
    for rule in fired:  # e.g. an ASQ acute positive is never banded "negative"
        bands.update(rule.sets_band)
    return Result(scores, bands, [r.code for r in fired], [r.code for r in fired if r.escalate], declined)


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
