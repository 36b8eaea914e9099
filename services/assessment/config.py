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
- ``ASSESSMENT_ONCALL``: the on-call roster, JSON keyed by hospital id (or ``default``):
  ``{"h-east": {"clinician": "dr-li", "second_line": "dr-wang"}}``. The clinician owns the
  hospital's escalation tasks; the second line is alerted on a breach (HZ-02).
- ``ASSESSMENT_TASK_REALERT_FRACTION``: when an unacknowledged task is re-alerted, as a
  fraction of the time to its deadline (0.5 = half-way).
- ``ASSESSMENT_TASK_TICK_S``: how often the worker sweeps due re-alerts and breaches (10).
- ``ASSESSMENT_TASK_DEADLINE_S``: drills and end-to-end tests only: every new task is due
  this many seconds after it is created instead of at the escalation's contact deadline.
- ``ASSESSMENT_REFERRAL_URL``: referral's API, asked for a family's contact details.
- ``ASSESSMENT_REVIEW_HOSPITALS``: hospitals whose clinicians review each new referral
  before it is accepted (comma-separated hospital ids; ``default`` = cases naming no
  hospital; ``*`` = every hospital). Empty (the default): every referral is accepted
  automatically, as before. The reviewing hospital is the one holding the case (its first
  preferred hospital, else ``default``); services/assessment/domain/review.py.
- ``ASSESSMENT_REVIEW_HOURS``: the review deadline (72): an unreviewed referral becomes a
  task for the hospital's on-call, re-alerted and breached like an escalation (HZ-14). A
  referral carrying a risk flag is due by its escalation's contact deadline if sooner.
- ``ASSESSMENT_TZ``: the network's time zone; a no-show's safeguarding task is due by the
  end of that day there (Asia/Shanghai).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
        "ONCALL",
        "TASK_REALERT_FRACTION",
        "TASK_TICK_S",
        "TASK_DEADLINE_S",
        "REFERRAL_URL",
        "TZ",
        "REVIEW_HOSPITALS",
        "REVIEW_HOURS",
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
    oncall: Mapping[str, OnCall] = field(default_factory=dict)
    task_realert_fraction: float = 0.5
    task_tick_s: float = 10.0
    task_deadline_s: float | None = None
    referral_url: str | None = None
    tz: str = "Asia/Shanghai"
    crisis_resources_file: str | None = None
    review_hospitals: frozenset[str] = frozenset()
    review_hours: float = 72.0

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
            fraction = float(get("TASK_REALERT_FRACTION") or 0.5)
            tick_s = float(get("TASK_TICK_S") or 10)
            deadline = get("TASK_DEADLINE_S")
            deadline_s = float(deadline) if deadline else None
            review_hours = float(get("REVIEW_HOURS") or 72)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if relapse_weeks < 1:
            raise ConfigError("ASSESSMENT_RELAPSE_WEEKS must be at least 1")
        if not 0 < fraction < 1:
            raise ConfigError("ASSESSMENT_TASK_REALERT_FRACTION must be between 0 and 1")
        if review_hours <= 0:
            raise ConfigError("ASSESSMENT_REVIEW_HOURS must be positive")
        if tick_s <= 0 or (deadline_s is not None and deadline_s <= 0):
            raise ConfigError("ASSESSMENT_TASK_TICK_S and ASSESSMENT_TASK_DEADLINE_S must be positive")
        tz = get("TZ") or "Asia/Shanghai"
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"ASSESSMENT_TZ: unknown time zone {tz!r}") from None
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
            oncall=parse_oncall(get("ONCALL")),
            task_realert_fraction=fraction,
            task_tick_s=tick_s,
            task_deadline_s=deadline_s,
            referral_url=(get("REFERRAL_URL") or "").rstrip("/") or None,
            tz=tz,
            crisis_resources_file=get("CRISIS_RESOURCES_FILE"),
            review_hospitals=frozenset(
                part.strip() for part in (get("REVIEW_HOSPITALS") or "").split(",") if part.strip()
            ),
            review_hours=review_hours,
        )

    def oncall_for(self, hospital_id: str | None) -> OnCall | None:
        """The hospital's on-call roster entry, else the network default; None when neither exists."""
        return self.oncall.get(hospital_id or DEFAULT_ONCALL) or self.oncall.get(DEFAULT_ONCALL)


DEFAULT_ONCALL = "default"
ONCALL_KEYS = frozenset({"clinician", "second_line"})


@dataclass(frozen=True)
class OnCall:
    """Who answers for a hospital's escalations: staff ids as they appear in staff tokens."""

    clinician: str
    second_line: str | None = None


def parse_oncall(raw: str | None) -> dict[str, OnCall]:
    """``ASSESSMENT_ONCALL`` → roster; unknown keys or an entry without a clinician refuse to start."""
    if not raw:
        return {}
    try:
        mapping = json.loads(raw)
    except ValueError:
        raise ConfigError("ASSESSMENT_ONCALL is not JSON") from None
    if not isinstance(mapping, dict):
        raise ConfigError("ASSESSMENT_ONCALL must be a JSON object keyed by hospital id")
    roster = {}
    for hospital, entry in mapping.items():
        if isinstance(entry, dict) and (unknown := set(entry) - ONCALL_KEYS):
            raise ConfigError(f"ASSESSMENT_ONCALL[{hospital!r}]: unknown keys {sorted(unknown)}")
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("clinician"), str)
            or not entry["clinician"]
        ):
            raise ConfigError(f"ASSESSMENT_ONCALL[{hospital!r}] needs a clinician (a staff id)")
        roster[str(hospital)] = OnCall(entry["clinician"], entry.get("second_line") or None)
    return roster


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
