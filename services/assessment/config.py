"""The assessment service's own configuration, read from ``settings.extra`` (ASSESSMENT_* variables).

Every value has a safe default so the embedded platform runs with nothing set:

- ``ASSESSMENT_TARGET_DAYS``: target waits per band, e.g. ``P1:7,P2:30,P3:90``.
- ``ASSESSMENT_CONTACT_HOURS``: escalation contact deadlines per reason, e.g.
  ``default:24,suicidal_talk:4``.
- ``ASSESSMENT_LICENSED_INSTRUMENTS``: instrument ids the network holds a licence for,
  e.g. ``sras-r,rcads-47``; their item text is shown and their responses accepted.
- ``ASSESSMENT_INSTRUMENT_TEXT_DIR``: where licensees put licensed item text
  (``<id>.json`` = ``{"stem": ..., "items": {"1": "...", ...}}``).
- ``ASSESSMENT_SRAS_TIE_MARGIN``: SRAS-R functions closer than this are a mixed profile.
- ``ASSESSMENT_RELAPSE_WEEKS``: consecutive below-target weeks that make a relapse (2).
- ``ASSESSMENT_RULES_FILE``: an alternative triage rule table (JSON).
- ``ASSESSMENT_CRISIS_RESOURCES_FILE``: crisis resources per region in en and zh-CN, shown
  on questionnaire pages at a risk answer (default ``crisis/resources.json``; HZ-04).
- ``ASSESSMENT_PUBLIC_BASE_URL``: where guardians reach this service's questionnaire page
  (``<base>/q/<token>``); default ``http://<host>:<port>`` from the settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

PREFIX = "ASSESSMENT_"


KNOWN = frozenset(
    PREFIX + name
    for name in (
        "TARGET_DAYS",
        "CONTACT_HOURS",
        "LICENSED_INSTRUMENTS",
        "INSTRUMENT_TEXT_DIR",
        "SRAS_TIE_MARGIN",
        "RELAPSE_WEEKS",
        "RULES_FILE",
        "PUBLIC_BASE_URL",
        "CRISIS_RESOURCES_FILE",
        # read by the platform (shared/settings.py) and by notification, from the same environment
        "PORT",
        "DB",
        "URL",
    )
)
"""Every ASSESSMENT_* variable anything reads. Any other refuses to start (HZ-06b): a misspelt
``ASSESSMENT_CONTACT_HOUR`` must not silently leave every deadline at its default. A new
variable is added here in the same change that reads it."""


class ConfigError(ValueError):
    """An ASSESSMENT_* variable cannot be understood; the service refuses to start."""


@dataclass(frozen=True)
class AssessmentConfig:
    target_days: Mapping[str, int] = field(default_factory=dict)
    contact_hours: Mapping[str, int] = field(default_factory=dict)
    licensed_instruments: frozenset[str] = frozenset()
    instrument_text_dir: str | None = None
    sras_tie_margin: float | None = None
    relapse_weeks: int = 2
    rules_file: str | None = None
    public_base_url: str | None = None
    crisis_resources_file: str | None = None

    @classmethod
    def from_extra(cls, extra: Mapping[str, str]) -> AssessmentConfig:
        def get(name: str) -> str | None:
            value = extra.get(PREFIX + name, "").strip()
            return value or None

        unknown = sorted(k for k in extra if k.startswith(PREFIX) and k not in KNOWN)
        if unknown:
            raise ConfigError(f"unknown variable(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN))}")
        try:
            margin = get("SRAS_TIE_MARGIN")
            relapse_weeks = int(get("RELAPSE_WEEKS") or 2)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if relapse_weeks < 1:
            raise ConfigError("ASSESSMENT_RELAPSE_WEEKS must be at least 1")
        return cls(
            target_days=_pairs("TARGET_DAYS", get("TARGET_DAYS")),
            contact_hours=_pairs("CONTACT_HOURS", get("CONTACT_HOURS")),
            licensed_instruments=frozenset(
                part.strip().lower()
                for part in (get("LICENSED_INSTRUMENTS") or "").split(",")
                if part.strip()
            ),
            instrument_text_dir=get("INSTRUMENT_TEXT_DIR"),
            sras_tie_margin=float(margin) if margin else None,
            relapse_weeks=relapse_weeks,
            rules_file=get("RULES_FILE"),
            public_base_url=(get("PUBLIC_BASE_URL") or "").rstrip("/") or None,
            crisis_resources_file=get("CRISIS_RESOURCES_FILE"),
        )


def _pairs(name: str, raw: str | None) -> dict[str, int]:
    """``"P1:7,P2:30"`` → ``{"P1": 7, "P2": 30}``; non-negative integers only."""
    pairs: dict[str, int] = {}
    for part in (raw or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition(":")
        if not sep or not value.strip().isdigit():
            raise ConfigError(f"{PREFIX}{name}: {part.strip()!r} is not KEY:NUMBER")
        pairs[key.strip()] = int(value)
    return pairs
