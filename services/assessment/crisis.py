"""Crisis resources per region, in English and Chinese, for risk answers on questionnaire pages (HZ-04).

A young person who gives a risk answer (PHQ-A item 9, 12 or 13; any item whose answer
escalates) sees where to get help at once, on the page, before and after sending: we do
not make a child wait for a clinician's call. The text is configuration, not code
(``ASSESSMENT_CRISIS_RESOURCES_FILE``; default ``crisis/resources.json``), checked at
start: a ``default`` region must exist and every region must carry ``en`` and ``zh-CN``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_FILE = Path(__file__).parent / "crisis" / "resources.json"
LANGUAGES = ("en", "zh-CN")
DEFAULT_REGION = "default"


class CrisisResourcesError(ValueError):
    """The crisis resources file is incomplete; the service refuses to start."""


@dataclass(frozen=True)
class CrisisResources:
    regions: Mapping[str, Mapping[str, Any]]

    def for_case(self, district: str | None, language: str) -> dict[str, Any]:
        """The resources of the region that lists the case's district (else ``default``), in one language."""
        region_id = next(
            (r for r, region in self.regions.items() if district and district in region.get("districts", ())),
            DEFAULT_REGION,
        )
        region = self.regions[region_id]
        text = region[language if language in LANGUAGES else "en"]
        return {"region": region_id, "language": language if language in LANGUAGES else "en", **text}

    @classmethod
    def load(cls, path: str | Path | None = None) -> CrisisResources:
        source = Path(path) if path else DEFAULT_FILE
        try:
            doc = json.loads(source.read_text(encoding="utf-8"))
            regions = dict(doc["regions"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CrisisResourcesError(f"crisis resources {source}: {exc!r}") from None
        problems = [] if DEFAULT_REGION in regions else [f"no {DEFAULT_REGION!r} region"]
        for region_id, region in regions.items():
            for language in LANGUAGES:
                text = region.get(language) if isinstance(region, dict) else None
                if not isinstance(text, dict) or not text.get("text") or not text.get("lines"):
                    problems.append(f"region {region_id!r} has no {language} text and lines")
                elif not all(line.get("name") and line.get("phone") for line in text["lines"]):
                    problems.append(f"region {region_id!r} {language}: every line needs a name and a phone")
        if problems:
            raise CrisisResourcesError(f"crisis resources {source}: " + "; ".join(problems))
        return cls(regions)
