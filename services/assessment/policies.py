"""Who may call each assessment route (enforced by shared.auth.install_policies).

Triage is the network's one regional queue, before any hospital is chosen, so every case
route needs a regional clinician token; a clinician scoped to one hospital is refused
(403) rather than shown other hospitals' families. The instrument catalogue shows no
case and is open to any clinician. Guardians' questionnaire routes are authorised by the
link's secret token alone.
"""

from __future__ import annotations

from shared.auth import ANY, OPEN, REGION, Policies, staff

CLINICIAN = staff("clinician", scope=REGION)

POLICIES: Policies = {
    ("GET", "/v1/triage/queue"): CLINICIAN,
    ("GET", "/v1/cases/<case_id>/triage"): CLINICIAN,
    ("POST", "/v1/cases/<case_id>/triage/override"): CLINICIAN,
    ("GET", "/v1/instruments"): staff("clinician", scope=ANY),
    ("GET", "/v1/instruments/<instrument_id>"): staff("clinician", scope=ANY),
    ("POST", "/v1/cases/<case_id>/instruments/<instrument_id>/responses"): CLINICIAN,
    ("GET", "/v1/cases/<case_id>/instruments/<instrument_id>/trajectory"): CLINICIAN,
    ("POST", "/v1/cases/<case_id>/return-plan"): CLINICIAN,
    ("GET", "/v1/cases/<case_id>/return-plan"): CLINICIAN,
    ("GET", "/v1/questionnaires/<invitation_id>/link"): staff("service", scope=REGION),
    ("GET", "/v1/questionnaire-responses/<token>"): OPEN,
    ("POST", "/v1/questionnaire-responses/<token>"): OPEN,
    ("GET", "/q/<token>"): OPEN,
}
