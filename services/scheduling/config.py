"""Scheduling's own settings, read from ``settings.extra`` (``SCHEDULING_*``) with safe defaults."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from services.scheduling.domain.pressure import Thresholds
from shared.secret_keys import DEV_OFFER_SECRET, require

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Config:
    timezone: str = "Asia/Shanghai"
    horizon_days: int = 84
    """Slots are materialised this many days ahead (12 weeks)."""
    hold_hours: float = 48.0
    urgent_hold_hours: float = 12.0
    min_lead_hours: float = 24.0
    """An offered slot starts at least this long after its hold ends."""
    follow_up_count: int = 4
    follow_up_interval_days: int = 7
    pressure_weeks: int = 4
    tick_s: float = 30.0
    pressure_apply_s: float = 1.0
    """How often the worker folds journaled moves into the pressure counts."""
    pressure_repair_s: float = 600.0
    """How often the duty recomputes the pressure counts exactly (services/scheduling/pressure_counts.py)."""
    materialise_every_s: float = 6 * 3600
    public_base_url: str = "http://127.0.0.1:8003"
    offer_secret: str = ""
    thresholds: Thresholds = field(default_factory=Thresholds)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_extra(
        cls, extra: Mapping[str, str], *, embedded: bool, public_base_url: str | None = None
    ) -> Config:
        """``SCHEDULING_OFFER_SECRET`` is its own secret (never the staff one); required outside the demo."""

        def num(name: str, default: float) -> float:
            return float(extra.get(f"SCHEDULING_{name}", default))

        return cls(
            timezone=extra.get("SCHEDULING_TIMEZONE", cls.timezone),
            horizon_days=int(num("HORIZON_DAYS", cls.horizon_days)),
            hold_hours=num("HOLD_HOURS", cls.hold_hours),
            urgent_hold_hours=num("URGENT_HOLD_HOURS", cls.urgent_hold_hours),
            min_lead_hours=num("MIN_LEAD_HOURS", cls.min_lead_hours),
            follow_up_count=int(num("FOLLOW_UP_COUNT", cls.follow_up_count)),
            follow_up_interval_days=int(num("FOLLOW_UP_INTERVAL_DAYS", cls.follow_up_interval_days)),
            pressure_weeks=int(num("PRESSURE_WEEKS", cls.pressure_weeks)),
            tick_s=num("TICK_S", cls.tick_s),
            pressure_apply_s=num("PRESSURE_APPLY_S", cls.pressure_apply_s),
            pressure_repair_s=num("PRESSURE_REPAIR_S", cls.pressure_repair_s),
            materialise_every_s=num("MATERIALISE_EVERY_S", cls.materialise_every_s),
            public_base_url=extra.get("SCHEDULING_PUBLIC_BASE_URL", public_base_url or cls.public_base_url),
            offer_secret=(
                extra.get("SCHEDULING_OFFER_SECRET", DEV_OFFER_SECRET)
                if embedded
                else require("SCHEDULING_OFFER_SECRET", extra.get("SCHEDULING_OFFER_SECRET"))
            ),
            thresholds=Thresholds(
                high_ratio=num("HIGH_RATIO", 1.0),
                critical_ratio=num("CRITICAL_RATIO", 1.5),
                critical_breaches=int(num("CRITICAL_BREACHES", 10)),
            ),
        )
