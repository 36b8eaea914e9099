"""FHIR exports of a case beyond the ServiceRequest: the episode of care (application/fhir+json).

Same rule as the JSON read it mirrors (``GET /v1/referrals/<id>``): the referring school's
API key, and only that school's cases (404 for any other, so existence is not revealed).
A blueprint of its own so the school routes in api.py stay as they are.
"""

from __future__ import annotations

from flask import Response, jsonify
from flask_smorest import Blueprint

from services.referral.access import protect
from services.referral.api import own_case
from services.referral.deps import Deps
from services.referral.fhir import episode_of_care
from services.referral.responses import EpisodeOfCareSchema


def fhir_blueprint(deps: Deps) -> Blueprint:
    blp = Blueprint(
        "referrals_fhir", __name__, url_prefix="/v1/referrals", description="FHIR R4 exports of a case."
    )
    protect(blp, deps)

    @blp.route("/<case_id>/episode-of-care/fhir", methods=["GET"])
    @blp.response(
        200,
        EpisodeOfCareSchema,
        content_type="application/fhir+json",
        description="A FHIR R4 EpisodeOfCare.",
    )
    def episode(case_id: str) -> Response:
        """The case from referral to discharge as a FHIR R4 EpisodeOfCare (status, period, history)."""
        case = own_case(deps, case_id)
        response = jsonify(episode_of_care(case, deps.cipher.unseal(case["referral"])))
        response.mimetype = "application/fhir+json"
        return response

    return blp
