"""Loading the versioned data files that drive the service: the triage rules and the instruments.

This is the only module that reads the package's data files, and it runs once, from
``bootstrap.build``; the domain receives the parsed, checked tables.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from services.assessment.config import AssessmentConfig
from services.assessment.domain import rules as rule_table
from services.assessment.domain.instrument_format import parse_instrument
from services.assessment.domain.instruments import Instrument

HERE = Path(__file__).parent
RULES_FILE = HERE / "rules" / "triage.json"
INSTRUMENTS_DIR = HERE / "instruments"


def load_rules(config: AssessmentConfig) -> rule_table.RuleTable:
    path = Path(config.rules_file) if config.rules_file else RULES_FILE
    table = rule_table.parse(json.loads(path.read_text(encoding="utf-8")))
    return table.configured(config.target_days, config.contact_hours)


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
