"""Mongo access for scheduling: indexes, and documents turned into domain values.

Collections: hospitals, sessions, holidays, slots, waitlist, offers, appointments,
claims (unique-key decisions, services/scheduling/claims.py), pressure (last published level per hospital and band),
pressure_counts and pressure_moves (queued families per hospital, band and bucket, and the journal
of moves its one writer folds in: services/scheduling/pressure_counts.py), waitlist_walk (the directory
of the waitlist's equality buckets: services/scheduling/walks.py) and meta (duty bookkeeping).
Every write that changes state and emits events is one ``update_one``/``insert_one``
with the events in the document's outbox; uniqueness rests on indexes below.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from pymongo.database import Database

from services.scheduling.domain.calendar import Session
from services.scheduling.domain.model import Constraints, Entry, Hospital, Slot
from shared.store import Index

SORTS = ("priority", "breach_date", "referred_on")
"""The waitlist's list orders; each is a string in ``sort_keys`` (services/scheduling/entries.py)."""

INDEXES: dict[str, list[Index]] = {
    "slots": [
        Index([("hospital_id", 1), ("start", 1), ("clinic_type", 1)], unique=True, name="slot_key"),
        Index([("state", 1), ("kind", 1), ("start", 1)]),
        # Open intake slots of one local week (offers.open_slots): best_slot_for_entry, fill_open_slots.
        Index(
            [("week", 1), ("state", 1), ("kind", 1), ("clinic_type", 1), ("start", 1)], name="open_by_week"
        ),
    ],
    "waitlist": [
        # One bucket of a lane, in its order (services/scheduling/walks.py): GET /v1/waitlist and
        # offer candidates; the hospital, when filtered, and the rest are read from the bucket's rows.
        *(
            Index([(f"walk_{sort}", 1), ("state", 1), ("eligible_hospitals", 1), (f"sort_keys.{sort}", 1)])
            for sort in SORTS
        ),
        # Pressure suggestions: one pressured hospital's queue of one band, in fair order.
        Index([("home_hospital", 1), ("state", 1), ("band", 1), ("sort_keys.priority", 1)]),
    ],
    "waitlist_walk": [Index([("up", 1)])],
    # HZ-15's repair pass: the raises recorded since a time (services/scheduling/raises.py).
    "entry_raises": [Index([("bucket", 1), ("key", 1)])],
    "offers": [
        Index([("token_hash", 1)], unique=True, name="offer_token"),
        Index([("state", 1), ("hold_until", 1)]),
        Index([("case_id", 1)]),
    ],
    "appointments": [
        Index([("case_id", 1)]),
        Index([("hospital_id", 1), ("start", 1)]),
        Index([("slot_id", 1)]),
    ],
    "claims": [Index([("case_id", 1), ("round", -1)])],  # a family's latest offer round
    "sessions": [Index([("hospital_id", 1)])],
    "holidays": [Index([("hospital_id", 1), ("date", 1)])],
}


OBSOLETE_INDEXES: dict[str, list[str]] = {
    # The waitlist's lane and candidate indexes before the walks (services/scheduling/walks.py):
    # nothing queries them any more, and each costs every entry write.
    "waitlist": [
        *(f"state_1_eligible_hospitals_1_band_1_sort_keys.{sort}_1" for sort in SORTS),
        *(f"state_1_band_1_sort_keys.{sort}_1" for sort in SORTS),
        "offer_candidates",
    ],
}


def drop_obsolete_indexes(db: Database) -> list[str]:
    """Drop indexes earlier versions declared and no query uses; returns the names dropped."""
    dropped = []
    for collection, names in OBSOLETE_INDEXES.items():
        present = set(db[collection].index_information())
        for name in names:
            if name in present:
                db[collection].drop_index(name)
                dropped.append(name)
    return dropped


def aware(value: datetime) -> datetime:
    """Stores hand back naive UTC unless tz_aware; make every instant aware UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iso(value: datetime) -> str:
    return aware(value).astimezone(UTC).isoformat().replace("+00:00", "Z")


def week_of(day: date) -> str:
    """A local day's ISO week, ``YYYY-Www``: sorts like the weeks, the equality bucket of a slot."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def hospital_from_doc(doc: dict[str, Any]) -> Hospital:
    return Hospital(
        id=doc["_id"],
        name=doc.get("name", doc["_id"]),
        district=doc.get("district", ""),
        location=(float(doc["lat"]), float(doc["lon"])),
        clinic_types=tuple(doc.get("clinic_types", ("school_refusal",))),
        languages=tuple(doc.get("languages", ("zh",))),
    )


def hospitals(db: Database) -> list[Hospital]:
    return [hospital_from_doc(d) for d in db.hospitals.find({}).sort("_id", 1)]


def session_from_doc(doc: dict[str, Any]) -> Session:
    return Session(
        id=doc["_id"],
        hospital_id=doc["hospital_id"],
        weekday=doc["weekday"],
        start=time.fromisoformat(doc["start"]),
        end=time.fromisoformat(doc["end"]),
        slot_minutes=int(doc["slot_minutes"]),
        kind=doc.get("kind", "intake"),
        clinic_type=doc.get("clinic_type", "school_refusal"),
    )


def constraints_from_doc(doc: dict[str, Any] | None) -> Constraints:
    doc = doc or {}
    km = doc.get("max_travel_km")
    return Constraints(
        hospitals=tuple(doc.get("hospitals") or ()),
        max_travel_km=float(km) if km is not None else None,
        home_district=doc.get("home_district"),
        weekdays=tuple(doc.get("weekdays") or ()),
        language=doc.get("language"),
    )


def entry_from_doc(doc: dict[str, Any]) -> Entry:
    return Entry(
        case_id=doc["_id"],
        band=doc.get("band", "P3"),
        referred_on=date.fromisoformat(doc["referred_on"]),
        target_date=date.fromisoformat(doc["target_date"]),
        clinic_type=doc.get("clinic_type", "school_refusal"),
        score=float(doc.get("score", 0)),
        urgent=bool(doc.get("urgent", False)),
        constraints=constraints_from_doc(doc.get("constraints")),
    )


def slot_from_doc(doc: dict[str, Any]) -> Slot:
    return Slot(
        id=doc["_id"],
        hospital_id=doc["hospital_id"],
        start=aware(doc["start"]),
        end=aware(doc["end"]),
        weekday=doc["weekday"],
        clinic_type=doc.get("clinic_type", "school_refusal"),
        kind=doc.get("kind", "intake"),
        local_day=date.fromisoformat(doc["day"]) if doc.get("day") else None,
    )


def slot_to_doc(slot: Slot, now: datetime) -> dict[str, Any]:
    return {
        "_id": slot.id,
        "hospital_id": slot.hospital_id,
        "clinic_type": slot.clinic_type,
        "kind": slot.kind,
        "start": slot.start,
        "end": slot.end,
        "weekday": slot.weekday,
        "day": slot.day.isoformat(),
        "week": week_of(slot.day),
        "state": "open",
        "passed_by": [],
        "created_at": now,
    }


def appointment_payload(doc: dict[str, Any]) -> dict[str, Any]:
    """The common part of every appointment.* event."""
    return {
        "case_id": doc["case_id"],
        "appointment_id": doc["_id"],
        "hospital_id": doc["hospital_id"],
        "start": iso(doc["start"]),
        "end": iso(doc["end"]),
        "kind": doc["kind"],
    }
