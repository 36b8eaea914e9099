"""FHIR exports of a case's assessment records (application/fhir+json), beside the JSON routes they mirror.

- ``…/instruments/<id>/responses/<n>/fhir``: administration ``n`` as a QuestionnaireResponse;
- ``…/instruments/<id>/observations/fhir``: every score of every administration of the
  instrument as Observations in a searchset Bundle (the trajectory's data);
- ``…/review/fhir``: the case's clinician review as a Task (404 when it never needed one).

Same rule as the JSON routes (a regional clinician's token, services/assessment/policies.py);
confidential items (HZ-04) are exported only to the roles in CONFIDENTIAL_READERS. The
mapping is services/assessment/domain/fhir.py. A blueprint of its own so api.py stays as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, g, jsonify
from flask_smorest import Blueprint, abort

from services.assessment.api import ERRORS, Api, in_scope
from services.assessment.domain import fhir
from services.assessment.domain.instruments import Instrument
from services.assessment.repository import UnknownCase
from services.assessment.schemas import FhirObservationBundle, FhirQuestionnaireResponse, FhirReviewTask
from shared.auth import require_staff
from shared.http import error_body

ROLE = "clinician"
CONFIDENTIAL_READERS = frozenset({"clinician"})
"""Roles that read a young person's confidential answers (the clinicians treating them, HZ-04)."""
FHIR_JSON = "application/fhir+json"


FHIR_JSON = "application/fhir+json"


def blueprint(deps: Api) -> Blueprint:
    blp = Blueprint("fhir", __name__, url_prefix="/v1", description="FHIR R4 exports of assessment records.")

    @blp.before_request
    def _clinicians_only() -> None:
        require_staff(deps.tokens, ROLE)

    status, code, message = ERRORS[UnknownCase]
    blp.register_error_handler(UnknownCase, lambda _exc: (jsonify(error_body(status, code, message)), status))

    def instrument_of(instrument_id: str) -> Instrument:
        found = deps.instruments.get(instrument_id)
        if found is None:
            abort(404, message=f"No instrument {instrument_id!r}.")
        return found

    def administrations(case_id: str, instrument: Instrument) -> list[Mapping[str, Any]]:
        in_scope(deps, case_id)  # a hospital-scoped clinician: their hospitals' cases only (404)
        doc = deps.casework.repo.get(case_id, {"administrations": 1})
        if doc is None:
            raise UnknownCase(case_id)
        return [a for a in doc.get("administrations", []) if a["instrument"] == instrument.id]

    @blp.get("/cases/<case_id>/instruments/<instrument_id>/responses/<n>/fhir")
    @blp.response(
        200,
        FhirQuestionnaireResponse,
        content_type=FHIR_JSON,
        description="A FHIR R4 QuestionnaireResponse (application/fhir+json).",
    )
    def questionnaire_response(case_id: str, instrument_id: str, n: str) -> Response:
        """Administration ``n`` (1, 2, … per instrument) as a QuestionnaireResponse: linkId and answers."""
        instrument = instrument_of(instrument_id)
        found = [a for a in administrations(case_id, instrument) if str(a["n"]) == n]
        if not found:
            abort(404, message=f"No administration {n} of {instrument_id} on this case.")
        confidential = g.principal.role in CONFIDENTIAL_READERS
        return _fhir(fhir.questionnaire_response(case_id, instrument, found[0], confidential=confidential))

    @blp.get("/cases/<case_id>/instruments/<instrument_id>/observations/fhir")
    @blp.response(
        200,
        FhirObservationBundle,
        content_type=FHIR_JSON,
        description="A FHIR R4 searchset Bundle of Observations (application/fhir+json).",
    )
    def observations(case_id: str, instrument_id: str) -> Response:
        """Every score of every administration of the instrument, oldest first, as Observations."""
        instrument = instrument_of(instrument_id)
        found = [
            o for a in administrations(case_id, instrument) for o in fhir.observations(case_id, instrument, a)
        ]
        return _fhir(fhir.bundle(found))

    @blp.get("/cases/<case_id>/review/fhir")
    @blp.response(
        200, FhirReviewTask, content_type=FHIR_JSON, description="A FHIR R4 Task (application/fhir+json)."
    )
    def review(case_id: str) -> Response:
        """The case's clinician review (a withdrawn risk flag, unknown codes) as a Task."""
        in_scope(deps, case_id)
        doc = deps.casework.repo.get(case_id, {"reviews": 1, "needs_review": 1, "triage": 1})
        if doc is None:
            raise UnknownCase(case_id)
        task = fhir.review_task(case_id, doc)
        if task is None:
            abort(404, message="This case has never needed a clinician review.")
        return _fhir(task)

    return blp


def _fhir(resource: Mapping[str, Any]) -> Response:
    response = jsonify(resource)
    response.mimetype = FHIR_JSON
    return response
