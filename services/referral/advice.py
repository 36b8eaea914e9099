"""Advice without referring: a school asks a clinician about a child without identifying them.

A school sends a question with coarse facts (age band, concern codes) and, optionally, the
hospital it would refer to; no name, no date of birth, no guardian. The question and the
answer are free text, so they stay here, in the service that keeps school text encrypted
(``FieldCipher``): a clinician scoped to that hospital (or any, when none is named) reads the
open questions and answers one through the clinical routes, every read access-logged like the
school's note (HZ-07). Only ids and codes travel on the bus (``advice.requested``,
``advice.answered``; the answer reaches the school as a webhook status, the text on
``GET /v1/advice/<id>``).

Races are decided by unique inserts (docs/adr/0003): the answer is ``advice_answers._id =
<advice id>`` (the first clinician wins, a second gets 409), and converting the advice into a
referral submits it under a case id derived from the advice id (``Referrals.submit`` with
that id: a retry finds its case, never a second one).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from flask import g
from flask_smorest import Blueprint, abort
from marshmallow import fields, validate

from services.referral.access import protect, school
from services.referral.advising import ANY_HOSPITAL, AdviceBook, AlreadyAnswered
from services.referral.api import answer, check, refusals
from services.referral.clinical import log_access
from services.referral.deps import Deps
from services.referral.domain import checks
from services.referral.domain import vocabulary as vocab
from services.referral.domain.vocabulary import ID_PATTERN
from services.referral.fields import InputSchema, codes, text
from services.referral.responses import AdviceListSchema, AdviceSchema, SubmittedSchema
from services.referral.schemas import ReferralSchema
from shared.auth import require_staff
from shared.contracts.referral import AGE_BANDS

REFERRAL = ReferralSchema()


class AdviceQuestionSchema(InputSchema):
    question = text(
        2000, multiline=True, required=True, metadata={"description": "no names or dates of birth"}
    )
    age_band = fields.String(required=True, validate=validate.OneOf(AGE_BANDS))
    concerns = codes(vocab.CONCERNS)
    hospital = fields.String(
        validate=validate.Regexp(ID_PATTERN), metadata={"description": "the hospital it would refer to"}
    )


class AdviceAnswerSchema(InputSchema):
    answer = text(4000, multiline=True, required=True)


class AdviceListQuery(InputSchema):
    hospital = fields.String(required=True, validate=validate.Regexp(ID_PATTERN))


def advice_case_id(advice_id: str) -> str:
    """The case a conversion opens: derived, so a retried conversion finds it."""
    return "c-" + hashlib.sha256(f"advice:{advice_id}".encode()).hexdigest()[:20]


def _book(deps: Deps) -> AdviceBook:
    assert deps.advice is not None, "the composition root gives referral its AdviceBook"
    return deps.advice


def school_blueprint(deps: Deps) -> Blueprint:
    blp = Blueprint("advice", __name__, url_prefix="/v1/advice", description="Advice without referring.")
    protect(blp, deps)

    def own(advice_id: str) -> dict[str, Any]:
        doc = _book(deps).get(advice_id) if re.match(ID_PATTERN, advice_id) else None
        if doc is None or doc["school_id"] != school().school_id:
            abort(404, message="No such question from this school.")
        return doc

    @blp.route("", methods=["POST"])
    @blp.arguments(AdviceQuestionSchema)
    @blp.response(201, AdviceSchema)
    def ask(body: dict[str, Any]) -> dict[str, Any]:
        """Ask a clinician about a child without referring (no identifying data)."""
        return _book(deps).ask(
            school().school_id,
            body["question"],
            body["age_band"],
            body.get("concerns", []),
            body.get("hospital"),
        )

    @blp.route("/<advice_id>", methods=["GET"])
    @blp.response(200, AdviceSchema)
    def read(advice_id: str) -> dict[str, Any]:
        """The question and, once given, the clinician's answer."""
        return _book(deps).view(own(advice_id))

    @blp.route("/<advice_id>/referral", methods=["POST"])
    @blp.arguments(REFERRAL)
    @blp.response(201, SubmittedSchema)
    def convert(referral: dict[str, Any], advice_id: str) -> Any:
        """Turn the advice into a referral (the full referral body); a retry returns the same case."""
        doc = own(advice_id)
        check(checks.referral_errors(referral, deps.clock()) | checks.sharing_errors(referral))
        with refusals():
            result = deps.referrals.submit(
                school().school_id, REFERRAL.dump(referral), advice_case_id(advice_id)
            )
        _book(deps).converted(doc, result.case_id)
        return answer(result)

    return blp


def clinical_blueprint(deps: Deps) -> Blueprint:
    blp = Blueprint(
        "clinical_advice",
        __name__,
        url_prefix="/clinical/v1/advice",
        description="Schools' advice questions.",
    )

    def visible(advice_id: str) -> dict[str, Any]:
        doc = _book(deps).get(advice_id) if re.match(ID_PATTERN, advice_id) else None
        if doc is None or not (
            doc["hospital_id"] == ANY_HOSPITAL or g.principal.can_act_for(doc["hospital_id"])
        ):
            abort(404, message="No such question.")
        return doc

    @blp.get("")
    @blp.arguments(AdviceListQuery, location="query")
    @blp.response(200, AdviceListSchema)
    def open_questions(query: dict[str, Any]) -> dict[str, Any]:
        """Open questions for a hospital (``any``: questions naming no hospital), oldest first."""
        principal = require_staff(deps.staff_tokens, "clinician")
        hospital = query["hospital"]
        if hospital != ANY_HOSPITAL and not principal.can_act_for(hospital):
            abort(403, message="Your token does not cover this hospital.")
        return {"items": _book(deps).open_for(hospital)}

    @blp.get("/<advice_id>")
    @blp.response(200, AdviceSchema)
    def question(advice_id: str) -> dict[str, Any]:
        """The question in the school's words, decrypted; the read is access-logged first."""
        principal = require_staff(deps.staff_tokens, "clinician")
        doc = visible(advice_id)
        log_access(deps, principal, advice_id, "advice_question", deps.clock())
        return _book(deps).view(doc)

    @blp.post("/<advice_id>/answer")
    @blp.arguments(AdviceAnswerSchema)
    @blp.response(200, AdviceSchema)
    def answer_question(body: dict[str, Any], advice_id: str) -> dict[str, Any]:
        """Answer the school; the first answer stands (409 for a second)."""
        principal = require_staff(deps.staff_tokens, "clinician")
        doc = visible(advice_id)
        try:
            return _book(deps).answer(doc, body["answer"], principal.subject)
        except AlreadyAnswered:
            abort(409, message="This question has already been answered.")

    return blp
