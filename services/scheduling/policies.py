"""Who may call each scheduling route (enforced by shared.auth.install_policies).

Hospital-scoped routes let a scoped token in; the handler then checks the hospital of the
record it addresses (slot, appointment, offer, session) and answers 403 — or 404 where
saying "forbidden" would confirm that a case exists. Without a ``hospital_id`` a list
shows only the caller's hospitals. ``GET /v1/pressure`` without ``hospital_id`` is the
network's aggregate (counts, no family), which every scope may see.
"""

from __future__ import annotations

from shared.auth import HOSPITAL, OPEN, REGION, Policies, staff

READERS = ("scheduler", "operator", "clinician")
SCHEDULER = ("scheduler",)

POLICIES: Policies = {
    ("GET", "/v1/hospitals"): staff(*READERS, "service", scope="any"),
    ("PUT", "/v1/hospitals/<hospital_id>"): staff(*SCHEDULER, scope=REGION),
    ("GET", "/v1/hospitals/<hospital_id>/sessions"): staff(*READERS, scope=HOSPITAL),
    ("POST", "/v1/hospitals/<hospital_id>/sessions"): staff(*SCHEDULER, scope=HOSPITAL),
    ("DELETE", "/v1/hospitals/<hospital_id>/sessions/<session_id>"): staff(*SCHEDULER, scope=HOSPITAL),
    ("POST", "/v1/hospitals/<hospital_id>/holidays"): staff(*SCHEDULER, scope=HOSPITAL),
    ("POST", "/v1/slots/materialise"): staff(*SCHEDULER, scope=REGION),
    ("GET", "/v1/slots"): staff(*READERS, scope=HOSPITAL),
    ("GET", "/v1/waitlist"): staff(*READERS, scope=HOSPITAL),
    ("GET", "/v1/waitlist/<case_id>"): staff(*READERS, scope=HOSPITAL),
    ("POST", "/v1/waitlist/<case_id>/offer"): staff(*SCHEDULER, scope=HOSPITAL),
    ("POST", "/v1/allocation/rebalance"): staff(*SCHEDULER, scope=HOSPITAL),
    ("GET", "/v1/pressure"): staff(*READERS, "service", scope=HOSPITAL),
    ("POST", "/v1/appointments"): staff(*SCHEDULER, scope=HOSPITAL),
    ("GET", "/v1/appointments"): staff(*READERS, scope=HOSPITAL),
    ("GET", "/v1/appointments/<appointment_id>"): staff(*READERS, scope=HOSPITAL),
    ("GET", "/v1/appointments/<appointment_id>/fhir"): staff(*READERS, scope=HOSPITAL),
    ("POST", "/v1/appointments/<appointment_id>/reschedule"): staff(*SCHEDULER, scope=HOSPITAL),
    ("POST", "/v1/appointments/<appointment_id>/cancel"): staff(*SCHEDULER, scope=HOSPITAL),
    ("POST", "/v1/appointments/<appointment_id>/attendance"): staff(*SCHEDULER, scope=HOSPITAL),
    ("POST", "/v1/cases/<case_id>/follow-ups"): staff(*SCHEDULER, scope=HOSPITAL),
    ("GET", "/v1/offers"): staff(*READERS, scope=HOSPITAL),
    ("GET", "/v1/offers/<offer_id>/link"): staff("service", *SCHEDULER, scope=HOSPITAL),
    # guardians answer with the offer's secret token; the pages are static
    ("GET", "/v1/offer-responses/<token>"): OPEN,
    ("POST", "/v1/offer-responses/<token>/accept"): OPEN,
    ("POST", "/v1/offer-responses/<token>/decline"): OPEN,
    ("GET", "/ui"): OPEN,  # the page (no data); it sends a person without a session to sign in
    ("GET", "/ui/offer/<token>"): OPEN,
}
