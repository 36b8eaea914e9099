"""An appointment exports as a valid FHIR R4 Appointment (fhir.resources R4B, as referral's
ServiceRequest test: R4B's Appointment is R4's), with the same access rule as the JSON read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.appointment import Appointment

from services.scheduling import booking
from services.scheduling.fhir import appointment
from tests.unit.scheduling.conftest import auth, triaged

pytestmark = pytest.mark.usefixtures("small")

STORED = {
    "_id": "appt-1",
    "case_id": "case-7",
    "slot_id": "slot-1",
    "hospital_id": "bch",
    "clinic_type": "school_refusal",
    "start": datetime(2025, 3, 10, 1, 0, tzinfo=UTC),
    "end": datetime(2025, 3, 10, 1, 30, tzinfo=UTC),
    "kind": "intake",
    "state": "booked",
    "series": None,
    "booked_by": "scheduler-1",
    "created_at": datetime(2025, 3, 3, 2, 0, tzinfo=UTC),
}


class TestMapping:
    def test_a_booking_is_a_valid_booked_appointment_with_the_hospital_as_location(self):
        resource = Appointment.model_validate(appointment(STORED, "Children's Hospital (Xicheng)"))
        assert resource.status == "booked"
        assert resource.start.isoformat() == "2025-03-10T01:00:00+00:00"
        assert resource.end.isoformat() == "2025-03-10T01:30:00+00:00"
        actors = [p.actor for p in resource.participant]
        assert actors[1].reference == "Location/bch" and actors[1].display == "Children's Hospital (Xicheng)"
        assert actors[0].type == "Patient" and actors[0].identifier.value == "case-7"
        assert actors[0].reference is None  # scheduling holds no child's record: the case id only
        assert resource.appointmentType.coding[0].code == "intake"
        assert resource.basedOn[0].identifier.value == "case-7"

    @pytest.mark.parametrize(
        ("state", "status"),
        [("booked", "booked"), ("attended", "fulfilled"), ("no_show", "noshow"), ("cancelled", "cancelled")],
    )
    def test_every_booking_state_maps_to_a_valid_status(self, state, status):
        stored = {**STORED, "state": state, "reason": "family_request"}
        resource = Appointment.model_validate(appointment(stored, None))
        assert resource.status == status
        if state == "cancelled":
            assert resource.cancelationReason.coding[0].code == "family_request"
            assert {p.status for p in resource.participant} == {"declined"}
        else:
            assert resource.cancelationReason is None
            assert {p.status for p in resource.participant} == {"accepted"}

    def test_no_personal_data_is_exported(self):
        exported = str(appointment({**STORED, "booked_by": "scheduler-1"}, "A"))
        assert "scheduler-1" not in exported and "slot-1" not in exported


class TestRoute:
    def booked(self, service, ctx, db):
        service.handlers["assessment.triaged"](triaged("c1"))
        offer = db.offers.find_one({"case_id": "c1"})
        return booking.book(ctx, "c1", offer["slot_id"], by="s", offer_id=offer["_id"])

    def test_a_reader_of_the_hospital_gets_a_valid_appointment(self, service, ctx, db, client):
        appt = self.booked(service, ctx, db)
        for role in ("scheduler", "clinician", "operator"):
            response = client.get(f"/v1/appointments/{appt['_id']}/fhir", headers=auth(role, ("a",)))
            assert response.status_code == 200, (role, response.json)
            assert response.mimetype == "application/fhir+json"
            resource = Appointment.model_validate(response.json)
            assert resource.status == "booked" and resource.participant[1].actor.display == "A"
            assert (
                resource.start.isoformat()
                == db.slots.find_one({"_id": offer_slot(db, appt)})["start"].isoformat()
            )

    def test_other_hospitals_and_other_roles_are_refused(self, service, ctx, db, client):
        appt = self.booked(service, ctx, db)
        path = f"/v1/appointments/{appt['_id']}/fhir"
        assert client.get(path, headers=auth("scheduler", ("b",))).status_code == 403
        assert client.get(path, headers=auth("service", ("*",))).status_code == 403
        assert client.get(path).status_code == 401
        assert client.get("/v1/appointments/nope/fhir", headers=auth()).status_code == 404


def offer_slot(db, appt):
    return db.appointments.find_one({"_id": appt["_id"]})["slot_id"]
