"""Assessment records as FHIR R4: answers, scores and reviews in the form hospital systems speak.

Pure mapping, no I/O; the routes (services/assessment/fhir_api.py) read the case. One
administration of an instrument is a ``QuestionnaireResponse`` (its items' answers) and
one ``Observation`` per score (the total, each subscale); the case's clinician review
(``needs_review``, HZ-01/HZ-06) is a ``Task``. Escalation tasks keep their FHIR form beside
their rules (:func:`services.assessment.domain.tasks.to_fhir`, re-exported here as
:func:`escalation_task`), so this module is the index of every FHIR form assessment exports.

Assessment holds no name or date of birth: the child is named only by the case
identifier (the system referral's ServiceRequest and EpisodeOfCare use), never a
contained Patient. Item text is not exported (linkId and answers only): licensed
instruments' wording is not ours to pass on, and the Questionnaire canonical URL names
the definition. Confidential items (PHQ-A 9, 12, 13; the ASQ: the young person's own
answers, HZ-04) are exported only when the caller may read them; otherwise they are left
out and the resource carries the ``REDACTED`` security label, so a reader knows answers
are missing rather than unasked.

Codes: a score uses its LOINC code where LOINC has one for that exact measure (SCORE_LOINC),
and always the Waymark code ``<instrument>/<scale>`` in CODE_SYSTEM ``instrument-score``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from services.assessment.domain.instruments import Instrument
from services.assessment.domain.tasks import FHIR_CODES
from services.assessment.domain.tasks import to_fhir as escalation_task

__all__ = [
    "CASE_ID_SYSTEM",
    "SCORE_LOINC",
    "bundle",
    "escalation_task",
    "observations",
    "questionnaire_response",
    "review_task",
]

CASE_ID_SYSTEM = "https://waymark.example.org/fhir/sid/case-id"
"""The case identifier every Waymark service exports (referral's ServiceRequest id)."""
QUESTIONNAIRE_BASE = "https://waymark.invalid/fhir/Questionnaire/"
LOINC = "http://loinc.org"
SCORE_LOINC: Mapping[tuple[str, str], tuple[str, str]] = {
    ("phq-a", "total"): (
        "89204-2",
        "Patient Health Questionnaire-9: Modified for Teens total score [Reported.PHQ.Teen]",
    ),
    ("gad-7", "total"): ("70274-6", "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]"),
}
"""LOINC score codes, checked against loinc.org: 89204-2 is the PHQ-9 Modified for Teens total
(the sum of items 1-9, panel 89206-7; the PHQ-A's total), 70274-6 the GAD-7 total (panel
69737-5). Every other score (SDQ, RCADS-47, SRAS-R, ASQ) has only the Waymark code."""
SURVEY = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "survey",
            "display": "Survey",
        }
    ]
}
REDACTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "REDACTED",
    "display": "redacted",
}
SOURCE = {
    "child": {"type": "Patient", "display": "the young person (self-report)"},
    "parent": {"type": "RelatedPerson", "display": "parent or guardian"},
    "teacher": {"display": "teacher (school)"},
}
"""Who answered (the administration's informant) as ``QuestionnaireResponse.source``."""
LINKS = ("guardian:", "young_person:")
"""``by`` of an administration answered on a questionnaire link (else a clinician's staff id)."""


def _case(case_id: str) -> dict[str, Any]:
    return {"system": CASE_ID_SYSTEM, "value": case_id}


def _subject(case_id: str) -> dict[str, Any]:
    return {"type": "Patient", "identifier": _case(case_id)}


def fhir_id(*parts: object) -> str:
    """A FHIR id (``[A-Za-z0-9-.]{1,64}``) from our own ids: other characters (a subscale's ``_``)
    become ``-``; one too long keeps its start and a digest of the whole, so it stays unique."""
    joined = re.sub(r"[^A-Za-z0-9\-.]", "-", ".".join(str(p) for p in parts))
    if len(joined) <= 64:
        return joined
    return f"{joined[:47]}.{hashlib.sha256(joined.encode()).hexdigest()[:16]}"


def response_id(case_id: str, instrument_id: str, n: int) -> str:
    return fhir_id(case_id, instrument_id, n)


def _source(informant: str, case_id: str) -> dict[str, Any]:
    source = dict(SOURCE.get(informant, {"display": informant}))
    if informant == "child":
        source["identifier"] = _case(case_id)
    return source


def _answer(value: Any, declined: bool) -> dict[str, Any]:
    if declined:
        return {"valueCoding": {"system": FHIR_CODES + "answer", "code": "declined", "display": "declined"}}
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        return {"valueInteger": value}
    return {"valueDecimal": value} if isinstance(value, float) else {"valueString": str(value)}


def questionnaire_response(
    case_id: str,
    instrument: Instrument,
    administration: Mapping[str, Any],
    *,
    confidential: bool,
) -> dict[str, Any]:
    """One administration as a QuestionnaireResponse; ``confidential`` items only when ``confidential``."""
    withheld = set() if confidential else set(instrument.confidential_items())
    declined = set(administration.get("declined") or [])
    responses = administration["responses"]
    order = [i.id for i in instrument.items if i.id in responses]
    order += sorted(set(responses) - set(order))  # an item dropped from a later version still shows
    items = [
        {"linkId": item_id, "answer": [_answer(responses[item_id], item_id in declined)]}
        for item_id in order
        if item_id not in withheld
    ]
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": response_id(case_id, instrument.id, administration["n"]),
        "identifier": {
            "system": FHIR_CODES + "administration",
            "value": f"{case_id}/{instrument.id}#{administration['n']}",
        },
        "questionnaire": f"{QUESTIONNAIRE_BASE}{instrument.id}|{administration['instrument_version']}",
        "status": "completed",
        "subject": _subject(case_id),
        "authored": administration["at"],
        "source": _source(administration["informant"], case_id),
        "item": items,
    }
    by = administration.get("by") or ""
    if by and not by.startswith(LINKS):
        resource["author"] = {"reference": f"Practitioner/{by}"}  # entered by a clinician in clinic
    if withheld & set(responses):
        resource["meta"] = {"security": [REDACTED]}
    return resource


def observations(
    case_id: str, instrument: Instrument, administration: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """One Observation per score of one administration (the total, each subscale), with its band."""
    n = administration["n"]
    found = []
    for scale, value in administration["scores"].items():
        coding = [
            {
                "system": FHIR_CODES + "instrument-score",
                "code": f"{instrument.id}/{scale}",
                "display": f"{instrument.name}: {scale}",
            }
        ]
        if (loinc := SCORE_LOINC.get((instrument.id, scale))) is not None:
            coding.insert(0, {"system": LOINC, "code": loinc[0], "display": loinc[1]})
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "id": fhir_id(case_id, instrument.id, n, scale),
            "status": "final",
            "category": [SURVEY],
            "code": {"coding": coding, "text": f"{instrument.name} {scale} score"},
            "subject": _subject(case_id),
            "effectiveDateTime": administration["at"],
            "valueQuantity": {
                "value": value,
                "unit": "{score}",
                "system": "http://unitsofmeasure.org",
                "code": "{score}",
            },
            "derivedFrom": [{"reference": f"QuestionnaireResponse/{response_id(case_id, instrument.id, n)}"}],
        }
        band = (administration.get("bands") or {}).get(scale)
        if band:
            resource["interpretation"] = [
                {
                    "coding": [{"system": FHIR_CODES + "score-band", "code": band}],
                    "text": band.replace("_", " "),
                }
            ]
        found.append(resource)
    return found


def review_task(case_id: str, doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The case's clinician review as a Task, or None when the case never needed one.

    ``requested`` while ``needs_review`` holds; ``completed`` once a clinician's triage
    decision answered it (an override clears it, HZ-01). Each review entry (a withdrawn risk
    flag, codes the rule table does not know) is an ``input``; the owner is left open: any
    regional clinician may answer it.
    """
    reviews = list(doc.get("reviews") or [])
    if not reviews:
        return None
    open_ = bool(doc.get("needs_review"))
    reasons = list(dict.fromkeys(r["reason"] for r in reviews))
    resource: dict[str, Any] = {
        "resourceType": "Task",
        "id": fhir_id(f"rev-{case_id}"),
        "status": "requested" if open_ else "completed",
        "intent": "order",
        "priority": "urgent" if "risk_flag_removed" in reasons else "routine",
        "code": {
            "coding": [{"system": FHIR_CODES + "task-kind", "code": "triage_review"}],
            "text": "clinician review of the triage",
        },
        "description": "Review the case's triage: " + ", ".join(r.replace("_", " ") for r in reasons),
        "focus": {"reference": f"Case/{case_id}"},
        "for": _subject(case_id),
        "authoredOn": reviews[0]["at"],
        "lastModified": _last_change(reviews, doc, open_),
        "input": [_review_input(r) for r in reviews],
    }
    return resource


def _last_change(reviews: list[Mapping[str, Any]], doc: Mapping[str, Any], open_: bool) -> str:
    latest = reviews[-1]["at"]
    if not open_:
        decided = [t["at"] for t in doc.get("triage", []) if t.get("at")]
        latest = max([latest, *decided])
    return latest


def _review_input(review: Mapping[str, Any]) -> dict[str, Any]:
    detail = review.get("flags") or review.get("codes") or []
    text = f"triage version {review.get('triage_version')}"
    if detail:
        text += ": " + ", ".join(detail)
    return {
        "type": {"coding": [{"system": FHIR_CODES + "review-reason", "code": review["reason"]}]},
        "valueString": text,
    }


def bundle(resources: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A searchset Bundle of ``resources`` (every match, none left out)."""
    entries = [{"resource": dict(r), "search": {"mode": "match"}} for r in resources]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}
