"""Loading the versioned data files that drive the service: the triage rules and the instruments.

This is the only module that reads the package's data files, and it runs once, from
``bootstrap.build``; the domain receives the parsed, checked tables.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from services.assessment.config import AssessmentConfig, ConfigError
from services.assessment.domain import rules as rule_table
from services.assessment.domain.instrument_format import parse_instrument
from services.assessment.domain.instruments import Instrument
from services.assessment.domain.triage import UNRECOGNISED_RISK

HERE = Path(__file__).parent
RULES_FILE = HERE / "rules" / "triage.json"
INSTRUMENTS_DIR = HERE / "instruments"


def load_rules(
    config: AssessmentConfig, instruments: Mapping[str, Instrument] | None = None
) -> rule_table.RuleTable:
    """The rule table as configured, its version naming the configuration (HZ-06b)."""
    return rule_table.parse(effective_rules(config, instruments))


def effective_rules(
    config: AssessmentConfig, instruments: Mapping[str, Instrument] | None = None
) -> dict[str, Any]:
    """The rule table's JSON with the network's targets and contact hours applied, and versioned.

    The version is the table's own plus a short hash of everything that shapes a triage
    (``waymark-sr-2025.2+1a2b3c4d``): change a target or a deadline and the version
    changes, so a stored triage names exactly the table that produced it, and that table
    (stored under its version, ``GET /v1/triage/rules/<version>``) reproduces it. A key
    that names no band or no escalation reason refuses to start, naming the key: a typo
    must never silently leave a deadline at its default.
    """
    path = Path(config.rules_file) if config.rules_file else RULES_FILE
    doc = json.loads(path.read_text(encoding="utf-8"))
    bands = {b["band"] for b in doc["bands"]}
    unknown_bands = sorted(set(config.target_days) - bands)
    if unknown_bands:
        raise ConfigError(
            f"ASSESSMENT_TARGET_DAYS names unknown band(s) {', '.join(unknown_bands)}; known: {', '.join(sorted(bands))}"
        )
    for band in doc["bands"]:
        band["target_days"] = config.target_days.get(band["band"], band["target_days"])
    reasons = escalation_reasons(doc, instruments or {})
    unknown_reasons = sorted(set(config.contact_hours) - reasons - {"default"})
    if unknown_reasons:
        raise ConfigError(
            f"ASSESSMENT_CONTACT_HOURS names unknown escalation reason(s) {', '.join(unknown_reasons)}; "
            f"known: default, {', '.join(sorted(reasons))}"
        )
    escalation = doc["escalation"]
    for reason, hours in config.contact_hours.items():
        if reason == "default":
            escalation["default_hours"] = hours
        else:
            escalation.setdefault("hours", {})[reason] = hours
    base = str(doc["version"]).split("+", 1)[0]
    shape = json.dumps({**doc, "version": base}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    doc["version"] = f"{base}+{hashlib.sha256(shape.encode()).hexdigest()[:8]}"
    return doc


def escalation_reasons(doc: Mapping[str, Any], instruments: Mapping[str, Instrument]) -> set[str]:
    """Every reason an escalation can carry: risk factors, instrument safety flags, unrecognised codes."""
    escalation = doc["escalation"]
    found = {f["escalate"] for f in doc["factors"] if f.get("escalate")}
    found |= set(escalation.get("hours", {})) | set(escalation.get("actions", {})) | {UNRECOGNISED_RISK}
    found |= {rule.code for i in instruments.values() for rule in i.flags if rule.escalate}
    return found


def load_instruments(config: AssessmentConfig) -> dict[str, Instrument]:
    """Every instrument shipped with the service, with licensee-provided text merged in when licensed."""
    found = {}
    for path in sorted(INSTRUMENTS_DIR.glob("*.json")):
        instrument = parse_instrument(json.loads(path.read_text(encoding="utf-8")))
        if instrument.id in config.licensed_instruments and config.instrument_text_dir:
            instrument = _with_licensed_text(
                instrument, Path(config.instrument_text_dir) / f"{instrument.id}.json"
            )
        found[instrument.id] = instrument
    return found


def _with_licensed_text(instrument: Instrument, path: Path) -> Instrument:
    if not path.is_file():
        return instrument
    doc = json.loads(path.read_text(encoding="utf-8"))
    texts = {str(k): str(v) for k, v in doc.get("items", {}).items()}
    items = tuple(replace(item, text=texts.get(item.id, item.text)) for item in instrument.items)
    return replace(instrument, items=items, stem=doc.get("stem", instrument.stem))
