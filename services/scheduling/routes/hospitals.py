"""Hospitals, their weekly sessions and holidays, and the slots those produce."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from flask_smorest import Blueprint, abort

from services.scheduling import calendar_ops
from services.scheduling.domain.geography import DISTRICT_CENTROIDS
from services.scheduling.routes.common import READERS, Deps, domain_errors, public
from services.scheduling.schemas import (
    ID,
    HolidayIn,
    HolidayOut,
    HospitalIn,
    HospitalList,
    HospitalOut,
    Materialised,
    SessionEnded,
    SessionIn,
    SessionList,
    SessionOut,
    SlotList,
    SlotQuery,
)

FOLLOW_UP_MINUTES = 45
INTAKE_MINUTES = 30


def blueprint(deps: Deps) -> Blueprint:
    blp = Blueprint(
        "hospitals", __name__, url_prefix="/v1", description="Hospitals, sessions, holidays, slots."
    )
    ctx = deps.ctx
    deps.guard(blp)

    @blp.get("/hospitals")
    @blp.response(200, HospitalList)
    def list_hospitals() -> dict[str, Any]:
        deps.staff(roles=(*READERS, "service"))
        return {"items": [public(d) for d in ctx.db.hospitals.find({}).sort("_id", 1)]}

    @blp.put("/hospitals/<hospital_id>")
    @blp.arguments(HospitalIn)
    @blp.response(200, HospitalOut)
    def put_hospital(data: dict[str, Any], hospital_id: str) -> dict[str, Any]:
        """Create or replace a hospital (regional schedulers only)."""
        deps.regional()
        if ID.regex.match(hospital_id) is None:
            abort(
                422, message="The request is invalid; see fields.", messages={"hospital_id": ["Invalid id."]}
            )
        lat, lon = DISTRICT_CENTROIDS[data["district"]]
        data["lat"] = lat if data["lat"] is None else data["lat"]
        data["lon"] = lon if data["lon"] is None else data["lon"]
        return public(calendar_ops.put_hospital(ctx, hospital_id, data))

    @blp.get("/hospitals/<hospital_id>/sessions")
    @blp.response(200, SessionList)
    def list_sessions(hospital_id: str) -> dict[str, Any]:
        deps.staff(hospital_id, READERS)
        return {
            "items": [public(d) for d in ctx.db.sessions.find({"hospital_id": hospital_id, "active": True})]
        }

    @blp.post("/hospitals/<hospital_id>/sessions")
    @blp.arguments(SessionIn)
    @blp.response(201, SessionOut)
    def add_session(data: dict[str, Any], hospital_id: str) -> dict[str, Any]:
        deps.staff(hospital_id)
        minutes = data["slot_minutes"] or (INTAKE_MINUTES if data["kind"] == "intake" else FOLLOW_UP_MINUTES)
        span = datetime.combine(datetime.min, data["end"]) - datetime.combine(datetime.min, data["start"])
        if span < timedelta(minutes=minutes):
            abort(
                422,
                message="The request is invalid; see fields.",
                messages={"slot_minutes": ["Longer than the session."]},
            )
        doc = {**data, "slot_minutes": minutes, "start": _hhmm(data["start"]), "end": _hhmm(data["end"])}
        with domain_errors():
            return public(calendar_ops.add_session(ctx, hospital_id, doc))

    @blp.delete("/hospitals/<hospital_id>/sessions/<session_id>")
    @blp.response(200, SessionEnded)
    def end_session(hospital_id: str, session_id: str) -> dict[str, Any]:
        deps.staff(hospital_id)
        with domain_errors():
            return {
                "session_id": session_id,
                "slots_closed": calendar_ops.end_session(ctx, hospital_id, session_id),
            }

    @blp.post("/hospitals/<hospital_id>/holidays")
    @blp.arguments(HolidayIn)
    @blp.response(201, HolidayOut)
    def add_holiday(data: dict[str, Any], hospital_id: str) -> dict[str, Any]:
        """Close a hospital for a day (``*`` = the whole region); lists bookings to move."""
        deps.staff(hospital_id)
        with domain_errors():
            return calendar_ops.add_holiday(ctx, hospital_id, data["date"], data["reason"])

    @blp.post("/slots/materialise")
    @blp.response(200, Materialised)
    def materialise() -> dict[str, Any]:
        deps.regional()
        return {"created": calendar_ops.materialise(ctx)}

    @blp.get("/slots")
    @blp.arguments(SlotQuery, location="query")
    @blp.response(200, SlotList)
    def list_slots(query: dict[str, Any]) -> dict[str, Any]:
        deps.staff(query["hospital_id"], READERS) if query["hospital_id"] else deps.regional(READERS)
        found: dict[str, Any] = {k: query[k] for k in ("hospital_id", "state", "kind") if query[k]}
        days = {}
        if query["date_from"]:
            days["$gte"] = query["date_from"].isoformat()
        if query["date_to"]:
            days["$lte"] = query["date_to"].isoformat()
        if days:
            found["day"] = days
        cursor = ctx.db.slots.find(found).sort("start", 1).limit(query["limit"])
        return {"items": [public(d) for d in cursor]}

    return blp


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")
