"""Who may call each referral route (enforced by shared.auth.install_policies).

School routes authenticate a school API key (services/referral/access.py) and show only
that school's cases. Staff routes are regional: operators manage every school's keys, and
the notification service reads any case's contacts. The school's clinical note is for
clinicians with a hospital scope: the handler shows a case only through a hospital the
family named, or any hospital with ``share_with_hospitals`` consent (404 otherwise,
services/referral/clinical.py); who read it (the access log) is for regional operators.
"""

from __future__ import annotations

from shared.auth import HOSPITAL, REGION, SCHOOL_KEY, Policies, staff

POLICIES: Policies = {
    ("POST", "/v1/referrals"): SCHOOL_KEY,
    ("GET", "/v1/referrals"): SCHOOL_KEY,
    ("GET", "/v1/referrals/<case_id>"): SCHOOL_KEY,
    ("GET", "/v1/referrals/<case_id>/fhir"): SCHOOL_KEY,
    ("GET", "/v1/referrals/<case_id>/episode-of-care/fhir"): SCHOOL_KEY,
    ("PATCH", "/v1/referrals/<case_id>"): SCHOOL_KEY,
    ("POST", "/v1/referrals/<case_id>/withdraw"): SCHOOL_KEY,
    ("POST", "/v1/referrals/<case_id>/attendance"): SCHOOL_KEY,
    ("PUT", "/v1/webhook"): SCHOOL_KEY,
    ("GET", "/v1/webhook"): SCHOOL_KEY,
    ("DELETE", "/v1/webhook"): SCHOOL_KEY,
    ("POST", "/v1/advice"): SCHOOL_KEY,
    ("GET", "/v1/advice/<advice_id>"): SCHOOL_KEY,
    ("POST", "/v1/advice/<advice_id>/referral"): SCHOOL_KEY,
    # advice questions: a clinician of the hospital the school named (any clinician when none)
    ("GET", "/clinical/v1/advice"): staff("clinician", scope=HOSPITAL),
    ("GET", "/clinical/v1/advice/<advice_id>"): staff("clinician", scope=HOSPITAL),
    ("POST", "/clinical/v1/advice/<advice_id>/answer"): staff("clinician", scope=HOSPITAL),
    ("GET", "/internal/v1/cases/<case_id>/contacts"): staff("service", scope=REGION),
    ("GET", "/clinical/v1/cases/<case_id>/school-note"): staff("clinician", scope=HOSPITAL),
    ("GET", "/clinical/v1/cases/<case_id>/access-log"): staff("operator", scope=REGION),
    ("POST", "/admin/v1/school-keys"): staff("operator", scope=REGION),
    ("GET", "/admin/v1/school-keys"): staff("operator", scope=REGION),
    ("DELETE", "/admin/v1/school-keys/<key_id>"): staff("operator", scope=REGION),
}
