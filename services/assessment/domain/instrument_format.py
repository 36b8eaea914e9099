"""Reading an instrument's JSON form into the typed model, checking it is internally consistent.

A broken instrument file must stop the service at start-up, not mis-score a child's
questionnaire later, so every cross-reference (item → scale, subscale → item, flag →
item or scale) is checked here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.assessment.domain.instruments import Band, FlagRule, Instrument, Item, Profile, Subscale


class InstrumentError(ValueError):
    """An instrument file is malformed."""


def parse_instrument(doc: Mapping[str, Any]) -> Instrument:
    try:
        instrument = _build(doc)
    except (KeyError, TypeError, ValueError) as exc:
        raise InstrumentError(f"instrument {doc.get('id')!r}: {exc!r}") from None
    _check(instrument)
    return instrument


def _build(doc: Mapping[str, Any]) -> Instrument:
    scales = {
        name: {int(o["value"]): str(o["label"]) for o in options} for name, options in doc["scales"].items()
    }
    items = tuple(
        Item(
            str(i["id"]),
            i["scale"],
            i.get("text"),
            bool(i.get("required", True)),
            bool(i.get("reverse", False)),
            _required_when(i.get("required_when")),
            bool(i.get("confidential", False)),
        )
        for i in doc["items"]
    )
    subscales = tuple(
        Subscale(
            s["code"],
            tuple(str(x) for x in s["items"]),
            s.get("method", "sum"),
            frozenset(int(v) for v in s.get("count_values", ())),
        )
        for s in doc["subscales"]
    )
    cutoffs = {
        scale: {
            informant: tuple(Band(float(lo), float(hi), label) for lo, hi, label in rows)
            for informant, rows in by.items()
        }
        for scale, by in doc.get("cutoffs", {}).items()
    }
    flags = tuple(
        FlagRule(
            f["code"],
            tuple(str(x) for x in f.get("items", ())),
            frozenset(int(v) for v in f.get("in", ())),
            f.get("scale"),
            f.get("gte"),
            bool(f.get("escalate", False)),
            bool(f.get("unanswered", False)),
            {str(k): str(v) for k, v in f.get("sets_band", {}).items()},
            bool(f.get("once_per_case", False)),
        )
        for f in doc.get("flags", ())
    )
    profile_doc = doc.get("profile")
    profile = (
        Profile(tuple(profile_doc["scales"]), float(profile_doc.get("tie_margin", 0.25)))
        if profile_doc
        else None
    )
    licence = dict(doc["licence"])
    return Instrument(
        id=doc["id"],
        version=str(doc["version"]),
        name=doc["name"],
        informants=tuple(doc["informants"]),
        licence=licence,
        requires_licence=bool(licence.get("requires_licence", True)),
        scales=scales,
        items=items,
        subscales=subscales,
        cutoffs=cutoffs,
        flags=flags,
        profile=profile,
        stem=doc.get("stem"),
        notes=doc.get("notes", ""),
        ages={str(k): (int(v[0]), int(v[1])) for k, v in doc.get("ages", {}).items()},
        translations={str(k): dict(v) for k, v in doc.get("translations", {}).items()},
        declined_codes={
            name: int(o["value"])
            for name, options in doc["scales"].items()
            for o in options
            if o.get("declined")
        },
    )


def _required_when(doc: Mapping[str, Any] | None) -> tuple[tuple[str, ...], frozenset[int]] | None:
    if not doc:
        return None
    return tuple(str(x) for x in doc["items"]), frozenset(int(v) for v in doc["in"])


def _age_and_translation_problems(instrument: Instrument, items: Mapping[str, Item]) -> list[str]:
    """Every instrument names its validated ages (HZ-04: gated by age); translations name real items."""
    problems = [] if instrument.ages else ["no validated age range (ages)"]
    for informant, (low, high) in instrument.ages.items():
        if informant != "*" and informant not in instrument.informants:
            problems.append(f"ages for unknown informant {informant}")
        if low > high:
            problems.append(f"age range {low}-{high} is empty")
    for language, text in instrument.translations.items():
        problems += [
            f"{language} translation names unknown item {x}" for x in text.get("items", {}) if x not in items
        ]
    return problems


def _check(instrument: Instrument) -> None:
    items = {i.id: i for i in instrument.items}
    codes = {s.code for s in instrument.subscales}
    problems = ["duplicate item ids"] if len(items) != len(instrument.items) else []
    problems += [
        f"item {i.id} uses unknown scale {i.scale}"
        for i in instrument.items
        if i.scale not in instrument.scales
    ]
    for sub in instrument.subscales:
        if sub.method not in ("sum", "mean", "count"):
            problems.append(f"subscale {sub.code} has unknown method {sub.method}")
        for x in sub.items:
            if x not in items:
                problems.append(f"subscale {sub.code} names unknown item {x}")
            elif sub.method != "count" and not items[x].required:
                problems.append(f"subscale {sub.code} adds up optional item {x}")
    for item in instrument.items:
        if item.required_when:
            problems += [
                f"item {item.id} is required when unknown item {x} is answered"
                for x in item.required_when[0]
                if x not in items
            ]
    problems += _age_and_translation_problems(instrument, items)
    for rule in instrument.flags:
        problems += [f"flag {rule.code} names unknown item {x}" for x in rule.items if x not in items]
        if rule.scale is not None and rule.scale not in codes:
            problems.append(f"flag {rule.code} names unknown scale {rule.scale}")
    problems += [f"cut-offs for unknown scale {s}" for s in instrument.cutoffs if s not in codes]
    if instrument.profile is not None:
        problems += [f"profile names unknown scale {s}" for s in instrument.profile.scales if s not in codes]
    if not instrument.requires_licence:
        problems += [f"item {i.id} of a free instrument has no text" for i in instrument.items if not i.text]
    if problems:
        raise InstrumentError(f"instrument {instrument.id!r}: " + "; ".join(problems))
