"""docs/asyncapi.json and docs/openapi/*.json stay true to the code (regenerate: `waymark docs`)."""

from __future__ import annotations

import json

from services import catalogue
from services.platform import available
from shared.contracts.registry import PRODUCERS


def test_committed_documents_match_the_code():
    stale = [
        str(path)
        for path, text in catalogue.render().items()
        if not path.exists() or path.read_text() != text
    ]
    assert not stale, f"run `waymark docs` and commit: {stale}"


def test_every_published_event_is_documented_and_every_consumer_listed():
    doc = json.loads((catalogue.DOCS / "asyncapi.json").read_text())
    documented = {m["title"] for m in doc["components"]["messages"].values()}
    assert documented == {name for schemas in PRODUCERS.values() for name in schemas}
    receivers = {op.split("_receives_")[0] for op in doc["operations"] if "_receives_" in op}
    assert receivers == set(available())


def test_every_event_in_the_catalogue_page_is_a_real_contract():
    page = (catalogue.DOCS / "events.md").read_text()
    for schemas in PRODUCERS.values():
        for name in schemas:
            assert f"| {name} |" in page, f"{name} missing from docs/events.md"
