"""Who may call each assessment route (enforced by shared.auth.install_policies).

The routes the clinician's workspace (``/clinic``) and the task workflow use are open to a
clinician scoped to hospitals (``CLINICIAN_OF_HOSPITAL``) as well as a regional one: the
escalation tasks' one owner is the on-call clinician of the hospital holding the case
(HZ-02), usually scoped to that hospital. Their handlers enforce the scope
(services/assessment/scope.py): lists (tasks, triage queue, cases awaiting review) are
filtered to the caller's hospitals, and a case or task of another hospital answers 404 as if
it did not exist; the FHIR exports follow the JSON routes they mirror. The other case routes
(access log, return plan, the young person's link) stay regional (``CLINICIAN``). The instrument catalogue shows no case and is
open to any clinician, as is a rule table (``/v1/triage/rules/<version>``: configuration, no
family). The handlers then check the rest (only a clinician holding a task on the case reads
its contacts, only the owner works a task, the co-signer differs from the requester).
Guardians' questionnaire routes are authorised by the link's secret token alone.
"""

from __future__ import annotations

from shared.auth import ANY, HOSPITAL, OPEN, REGION, Policies, staff

CLINICIAN = staff("clinician", scope=REGION)
CLINICIAN_OF_HOSPITAL = staff("clinician", scope=HOSPITAL)
"""Regional or hospital-scoped; the handler limits a hospital-scoped one to their hospitals."""

POLICIES: Policies = {
    ("GET", "/v1/triage/queue"): CLINICIAN_OF_HOSPITAL,
    ("GET", "/v1/cases/<case_id>/triage"): CLINICIAN_OF_HOSPITAL,
    ("POST", "/v1/cases/<case_id>/triage/override"): CLINICIAN_OF_HOSPITAL,
    ("POST", "/v1/cases/<case_id>/triage/override/cosign"): CLINICIAN_OF_HOSPITAL,
    ("GET", "/v1/triage/rules/<version>"): staff("clinician", scope=ANY),
    # Review is the reviewing hospital's: a hospital-scoped clinician gets in, and the handler
    # decides only for a case whose reviewing hospital the token covers (404 otherwise).
    ("POST", "/v1/cases/<case_id>/review"): staff("clinician", scope=HOSPITAL),
    ("GET", "/v1/cases/<case_id>/review"): staff("clinician", scope=HOSPITAL),
    ("GET", "/v1/reviews"): staff("clinician", scope=HOSPITAL),
    ("GET", "/v1/tasks"): CLINICIAN_OF_HOSPITAL,
    ("GET", "/v1/tasks/<task_id>"): CLINICIAN_OF_HOSPITAL,
    ("GET", "/v1/tasks/<task_id>/history"): CLINICIAN_OF_HOSPITAL,
    ("POST", "/v1/tasks/<task_id>/acknowledge"): CLINICIAN_OF_HOSPITAL,
    ("POST", "/v1/tasks/<task_id>/complete"): CLINICIAN_OF_HOSPITAL,
    ("GET", "/v1/cases/<case_id>/contacts"): CLINICIAN_OF_HOSPITAL,
    ("GET", "/v1/cases/<case_id>/access-log"): CLINICIAN,
    ("POST", "/v1/cases/<case_id>/questionnaires"): CLINICIAN,
    ("GET", "/v1/instruments"): staff("clinician", scope=ANY),
    ("GET", "/v1/instruments/<instrument_id>"): staff("clinician", scope=ANY),
    ("POST", "/v1/cases/<case_id>/instruments/<instrument_id>/responses"): CLINICIAN_OF_HOSPITAL,
    ("GET", "/v1/cases/<case_id>/instruments/<instrument_id>/trajectory"): CLINICIAN_OF_HOSPITAL,
    # FHIR exports (services/assessment/fhir_api.py): the rule of the JSON route each mirrors
    ("GET", "/v1/cases/<case_id>/instruments/<instrument_id>/responses/<n>/fhir"): CLINICIAN_OF_HOSPITAL,
    ("GET", "/v1/cases/<case_id>/instruments/<instrument_id>/observations/fhir"): CLINICIAN_OF_HOSPITAL,
    ("GET", "/v1/cases/<case_id>/review/fhir"): CLINICIAN_OF_HOSPITAL,
    ("POST", "/v1/cases/<case_id>/return-plan"): CLINICIAN,
    ("GET", "/v1/cases/<case_id>/return-plan"): CLINICIAN,
    ("GET", "/v1/questionnaires/<invitation_id>/link"): staff("service", scope=REGION),
    ("GET", "/v1/questionnaire-responses/<token>"): OPEN,
    ("POST", "/v1/questionnaire-responses/<token>"): OPEN,
    ("GET", "/q/<token>"): OPEN,
}
