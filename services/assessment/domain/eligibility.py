"""Whether an instrument fits a child: its validated age range against what we know of the child's age.

Assessment never sees a date of birth. Referral publishes the child's age in whole years on
the referral date (``age_years``; older events only the ``age_band``), so on a later date the
age is a range: whole calendar years since the referral are certain, a part-year may or may
not have crossed a birthday. A link sent without a clinician present offers an instrument
only when the child is **certainly** inside its range (HZ-04); a clinician, who sees the
child, is refused only when the child is certainly outside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from services.assessment.domain.instruments import Instrument


def _full_years(start: date, end: date) -> int:
    return max(0, end.year - start.year - ((end.month, end.day) < (start.month, start.day)))


def age_range_on(referral: Mapping[str, Any], on: date) -> tuple[int, int] | None:
    """The lowest and highest age (whole years) the child can have on ``on``; None when unknown."""
    referred_on = date.fromisoformat(str(referral["referred_on"]))
    if referral.get("age_years") is not None:
        low = high = int(referral["age_years"])
    elif referral.get("age_band"):
        first, _, last = str(referral["age_band"]).partition("-")
        low, high = int(first), int(last)
    else:
        return None
    years = _full_years(referred_on, on)
    partial = referred_on.replace(year=referred_on.year + years) != on if on > referred_on else False
    return low + years, high + years + (1 if partial else 0)


def certainly_fits(instrument: Instrument, informant: str, referral: Mapping[str, Any], on: date) -> bool:
    """For links: the child is inside the informant form's validated range whatever their birthday."""
    valid, age = instrument.age_range(informant), age_range_on(referral, on)
    return valid is not None and age is not None and valid[0] <= age[0] and age[1] <= valid[1]


def certainly_outside(instrument: Instrument, informant: str, referral: Mapping[str, Any], on: date) -> bool:
    """For clinicians: the child is outside the validated range whatever their birthday."""
    valid, age = instrument.age_range(informant), age_range_on(referral, on)
    if valid is None or age is None:
        return False
    return age[1] < valid[0] or age[0] > valid[1]
