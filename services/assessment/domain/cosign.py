"""Lowering an escalated case needs a reasoned request and a second clinician's co-signature (HZ-11).

One clinician alone must not remove an escalated child's urgency: the override is held
as *pending* until a different clinician co-signs it, and only then becomes a triage
version. The reason must say something: at least ``MIN_WORD_CHARS`` letters or digits
(any script: a Chinese reason counts its characters) and ``MIN_DISTINCT`` different ones,
so "n/a", "ok" or "aaaaaaaaaaaaaaaaaaaaaaaa" are refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from services.assessment.domain.triage import more_urgent

MIN_WORD_CHARS = 20
MIN_DISTINCT = 8
AWAITING = "awaiting_cosignature"


def needs_cosignature(case: Mapping[str, Any], band: str) -> bool:
    """True when ``band`` lowers the current band of an escalated case."""
    return bool(case.get("escalated")) and more_urgent(case["band"], band)


def reason_problem(reason: str) -> str | None:
    """Why the reason is too thin to lower an escalated case, or None when it will do."""
    chars = re.findall(r"\w", reason)
    if len(chars) < MIN_WORD_CHARS or len({c.lower() for c in chars}) < MIN_DISTINCT:
        return (
            f"Lowering an escalated case needs a reason of at least {MIN_WORD_CHARS} letters "
            "saying what changed (it is co-signed by a second clinician)."
        )
    return None
