"""Which hospitals and slots a family can use: the hard constraints, never traded off."""

from __future__ import annotations

from collections.abc import Iterable

from services.scheduling.domain.geography import travel_km
from services.scheduling.domain.model import Constraints, Entry, Hospital, Slot


def hospital_ok(constraints: Constraints, clinic_type: str, hospital: Hospital) -> bool:
    if clinic_type not in hospital.clinic_types:
        return False
    if constraints.hospitals and hospital.id not in constraints.hospitals:
        return False
    if constraints.language and not speaks(hospital.languages, constraints.language):
        return False
    if constraints.max_travel_km is not None:
        km = travel_km(constraints.home_district, hospital.location)
        if km is not None and km > constraints.max_travel_km:
            return False
    return True


def speaks(languages: Iterable[str], wanted: str) -> bool:
    """BCP 47 tags match on the primary language: a family asking for "zh-CN" is served in "zh"."""
    primary = wanted.split("-", maxsplit=1)[0].lower()
    return any(lang.split("-")[0].lower() == primary for lang in languages)


def eligible_hospitals(
    constraints: Constraints, clinic_type: str, hospitals: Iterable[Hospital]
) -> list[str]:
    """Hospital ids the family accepts, stored on the entry so lists and matching can use an index."""
    return sorted(h.id for h in hospitals if hospital_ok(constraints, clinic_type, h))


def weekday_ok(constraints: Constraints, weekday: str) -> bool:
    return not constraints.weekdays or weekday in constraints.weekdays


def slot_ok(entry: Entry, slot: Slot, eligible: set[str] | frozenset[str]) -> bool:
    return (
        slot.hospital_id in eligible
        and slot.clinic_type == entry.clinic_type
        and weekday_ok(entry.constraints, slot.weekday)
    )
