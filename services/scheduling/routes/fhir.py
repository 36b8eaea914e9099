"""FHIR exports of scheduling records (application/fhir+json): an appointment as a FHIR R4 Appointment.

Same rule as the JSON read it mirrors (``GET /v1/appointments/<id>``): schedulers,
operators and clinicians whose token covers the appointment's hospital (403 otherwise).
"""

from __future__ import annotations

from flask import Response, jsonify
from flask_smorest import Blueprint

from services.scheduling import booking, calendar_ops
from services.scheduling.context import NotFound
from services.scheduling.fhir import appointment
from services.scheduling.routes.common import READERS, Deps, domain_errors
from services.scheduling.schemas import FhirAppointmentSchema


def blueprint(deps: Deps) -> Blueprint:
    blp = Blueprint("fhir", __name__, url_prefix="/v1", description="FHIR R4 exports of scheduling records.")
    ctx = deps.ctx
    deps.guard(blp)

    @blp.get("/appointments/<appointment_id>/fhir")
    @blp.response(
        200,
        FhirAppointmentSchema,
        content_type="application/fhir+json",
        description="A FHIR R4 Appointment.",
    )
    def appointment_fhir(appointment_id: str) -> Response:
        """The appointment as a FHIR R4 Appointment: the hospital as Location, the child by case id only."""
        with domain_errors():
            appt = booking.get_appointment(ctx, appointment_id)
        deps.staff(appt["hospital_id"], READERS)
        try:
            name = calendar_ops.get_hospital(ctx, appt["hospital_id"]).get("name")
        except NotFound:  # a hospital removed since: the Location keeps its id
            name = None
        response = jsonify(appointment(appt, name))
        response.mimetype = "application/fhir+json"
        return response

    return blp
