"""Appointments for schedulers: book, reschedule, cancel, record attendance, follow-up series."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint, abort

from services.scheduling import attendance, booking
from services.scheduling import repository as repo
from services.scheduling.routes.common import READERS, Deps, domain_errors, public
from services.scheduling.schemas import (
    AppointmentList,
    AppointmentOut,
    AppointmentQuery,
    AttendanceIn,
    AttendanceOut,
    BookIn,
    CancelIn,
    FollowUpsIn,
    FollowUpsOut,
    RescheduleIn,
)


def blueprint(deps: Deps) -> Blueprint:
    blp = Blueprint("appointments", __name__, url_prefix="/v1", description="Booking and attendance.")
    ctx = deps.ctx
    deps.guard(blp)

    @blp.post("/appointments")
    @blp.arguments(BookIn)
    @blp.response(201, AppointmentOut)
    def book(data: dict[str, Any]) -> dict[str, Any]:
        """Book a free slot; of two schedulers booking one slot at once exactly one wins (409 for the other)."""
        with domain_errors():
            slot = booking.get_slot(ctx, data["slot_id"])
        principal = deps.staff(slot["hospital_id"])
        entry = ctx.db.waitlist.find_one({"_id": data["case_id"]})
        if slot["kind"] == "intake" and (entry is None or entry.get("state") not in ("waiting", "offered")):
            abort(409, message=f"case {data['case_id']} is not waiting for an intake")
        if entry is not None and slot["hospital_id"] not in entry.get(
            "eligible_hospitals", [slot["hospital_id"]]
        ):
            abort(409, message="the family's constraints exclude this hospital")
        with domain_errors():
            return public(booking.book(ctx, data["case_id"], data["slot_id"], by=principal.subject))

    @blp.get("/appointments")
    @blp.arguments(AppointmentQuery, location="query")
    @blp.response(200, AppointmentList)
    def list_appointments(query: dict[str, Any]) -> dict[str, Any]:
        principal = deps.staff(query["hospital_id"], READERS)
        found = {k: query[k] for k in ("hospital_id", "case_id", "state") if query[k]}
        if not query["hospital_id"] and "*" not in principal.hospitals:
            found["hospital_id"] = {"$in": list(principal.hospitals)}
        cursor = ctx.db.appointments.find(found).sort("start", 1).limit(query["limit"])
        return {"items": [public(d) for d in cursor]}

    @blp.get("/appointments/<appointment_id>")
    @blp.response(200, AppointmentOut)
    def get_appointment(appointment_id: str) -> dict[str, Any]:
        with domain_errors():
            appt = booking.get_appointment(ctx, appointment_id)
        deps.staff(appt["hospital_id"], READERS)
        return public(appt)

    @blp.post("/appointments/<appointment_id>/reschedule")
    @blp.arguments(RescheduleIn)
    @blp.response(200, AppointmentOut)
    def reschedule(data: dict[str, Any], appointment_id: str) -> dict[str, Any]:
        _owned(deps, appointment_id)
        with domain_errors():
            target = booking.get_slot(ctx, data["slot_id"])
        deps.staff(target["hospital_id"])
        with domain_errors():
            return public(booking.reschedule(ctx, appointment_id, data["slot_id"]))

    @blp.post("/appointments/<appointment_id>/cancel")
    @blp.arguments(CancelIn)
    @blp.response(200, AppointmentOut)
    def cancel(data: dict[str, Any], appointment_id: str) -> dict[str, Any]:
        """Cancel; the slot is offered to the next family and (requeue) this family keeps its place."""
        _owned(deps, appointment_id)
        with domain_errors():
            return public(booking.cancel(ctx, appointment_id, data["reason"], requeue=data["requeue"]))

    _care_routes(blp, deps)
    return blp


def _care_routes(blp: Blueprint, deps: Deps) -> None:
    """After the appointment: attendance and the follow-up series."""
    ctx = deps.ctx

    @blp.post("/appointments/<appointment_id>/attendance")
    @blp.arguments(AttendanceIn)
    @blp.response(200, AttendanceOut)
    def record_attendance(data: dict[str, Any], appointment_id: str) -> dict[str, Any]:
        """Attended intake books the follow-up series; a no-show is re-offered once, then flagged."""
        _owned(deps, appointment_id)
        with domain_errors():
            result = attendance.record(ctx, appointment_id, data["outcome"])
        if "follow_ups" in result:
            result["follow_ups"] = [public(a) for a in result["follow_ups"]]
        return public(result)

    @blp.post("/cases/<case_id>/follow-ups")
    @blp.arguments(FollowUpsIn)
    @blp.response(201, FollowUpsOut)
    def follow_ups(data: dict[str, Any], case_id: str) -> dict[str, Any]:
        """Book a follow-up series at the hospital where the family had its intake."""
        intake = ctx.db.appointments.find_one({"case_id": case_id, "kind": "intake", "state": "attended"})
        if intake is None:
            abort(409, message=f"case {case_id} has no attended intake to follow up")
        deps.staff(intake["hospital_id"])
        booked = attendance.book_series(
            ctx,
            case_id,
            intake["hospital_id"],
            max(ctx.now(), repo.aware(intake["start"])),
            data["count"],
            data["interval_days"],
        )
        return {"requested": data["count"], "booked": [public(a) for a in booked]}


def _owned(deps: Deps, appointment_id: str) -> dict[str, Any]:
    """The appointment, if the caller schedules for its hospital (404 / 403 otherwise)."""
    with domain_errors():
        appt = booking.get_appointment(deps.ctx, appointment_id)
    deps.staff(appt["hospital_id"])
    return appt
