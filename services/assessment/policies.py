"""Who may call each assessment route (enforced by shared.auth.install_policies).

Triage is the network's one regional queue, before any hospital is chosen, so every case
route needs a regional clinician token; a clinician scoped to one hospital is refused
(403) rather than shown other hospitals' families. The instrument catalogue shows no
case and is open to any clinician, as is a rule table (``/v1/triage/rules/<version>``:
configuration, no family). Escalation tasks, the family's contacts and their access log,
the co-signature of a lowered override and the young person's link are case routes too:
regional clinicians only; the handlers then check the rest (only a clinician holding a task
on the case reads its contacts, only the owner works a task, the co-signer differs from the
requester). Guardians' questionnaire routes are authorised by the link's secret token alone.
"""

from __future__ import annotations

from shared.auth import ANY, HOSPITAL, OPEN, REGION, Policies, staff

CLINICIAN = staff("clinician", scope=REGION)

POLICIES: Policies = {
    ("GET", "/v1/triage/queue"): CLINICIAN,
    ("GET", "/v1/cases/<case_id>/triage"): CLINICIAN,
    ("POST", "/v1/cases/<case_id>/triage/override"): CLINICIAN,
    ("POST", "/v1/cases/<case_id>/triage/override/cosign"): CLINICIAN,
    ("GET", "/v1/triage/rules/<version>"): staff("clinician", scope=ANY),
    # Review is the reviewing hospital's: a hospital-scoped clinician gets in, and the handler
    # decides only for a case whose reviewing hospital the token covers (404 otherwise).
    ("POST", "/v1/cases/<case_id>/review"): staff("clinician", scope=HOSPITAL),
    ("GET", "/v1/cases/<case_id>/review"): staff("clinician", scope=HOSPITAL),
    ("GET", "/v1/reviews"): staff("clinician", scope=HOSPITAL),
    ("GET", "/v1/tasks"): CLINICIAN,
    ("GET", "/v1/tasks/<task_id>"): CLINICIAN,
    ("GET", "/v1/tasks/<task_id>/history"): CLINICIAN,
    ("POST", "/v1/tasks/<task_id>/acknowledge"): CLINICIAN,
    ("POST", "/v1/tasks/<task_id>/complete"): CLINICIAN,
    ("GET", "/v1/cases/<case_id>/contacts"): CLINICIAN,
    ("GET", "/v1/cases/<case_id>/access-log"): CLINICIAN,
    ("POST", "/v1/cases/<case_id>/questionnaires"): CLINICIAN,
    ("GET", "/v1/instruments"): staff("clinician", scope=ANY),
    ("GET", "/v1/instruments/<instrument_id>"): staff("clinician", scope=ANY),
    ("POST", "/v1/cases/<case_id>/instruments/<instrument_id>/responses"): CLINICIAN,
    ("GET", "/v1/cases/<case_id>/instruments/<instrument_id>/trajectory"): CLINICIAN,
    # FHIR exports (services/assessment/fhir_api.py): the rule of the JSON route each mirrors
    ("GET", "/v1/cases/<case_id>/instruments/<instrument_id>/responses/<n>/fhir"): CLINICIAN,
    ("GET", "/v1/cases/<case_id>/instruments/<instrument_id>/observations/fhir"): CLINICIAN,
    ("GET", "/v1/cases/<case_id>/review/fhir"): CLINICIAN,
    ("POST", "/v1/cases/<case_id>/return-plan"): CLINICIAN,
    ("GET", "/v1/cases/<case_id>/return-plan"): CLINICIAN,
    ("GET", "/v1/questionnaires/<invitation_id>/link"): staff("service", scope=REGION),
    ("GET", "/v1/questionnaire-responses/<token>"): OPEN,
    ("POST", "/v1/questionnaire-responses/<token>"): OPEN,
    ("GET", "/q/<token>"): OPEN,
}
