"""The school-facing referral API: /v1/referrals (submit, list, read, amend, withdraw, attendance, FHIR).

Every body is validated by a marshmallow schema (422 naming the field); date rules run here
with the service clock; a school sees only cases it referred (other ids answer 404, so a
case's existence is not revealed).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Response, jsonify, request
from flask_smorest import Blueprint, abort
from marshmallow import RAISE

from services.referral import views
from services.referral.access import protect, school
from services.referral.cases import CaseClosed, Contended, KeyReused, NotReportable
from services.referral.deps import Deps
from services.referral.domain import checks
from services.referral.domain.vocabulary import ID_PATTERN
from services.referral.fhir import service_request
from services.referral.idempotency import HEADER, IdempotencyConflict, body_hash, case_id_for
from services.referral.responses import CasePageSchema, CaseSchema, ServiceRequestSchema, SubmittedSchema
from services.referral.schemas import (
    AmendmentSchema,
    AttendanceSchema,
    CaseListQuery,
    ReferralSchema,
    WithdrawalSchema,
)

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,200}$")
# Built once per process: webargs instantiates a schema *class* on every request, and a
# marshmallow schema's construction (deep-copying every declared and nested field) cost
# more than validating the body. Schemas hold no per-call state, so threads share them.
REFERRAL, AMENDMENT, WITHDRAWAL = ReferralSchema(), AmendmentSchema(), WithdrawalSchema()
ATTENDANCE, LIST_QUERY = AttendanceSchema(), CaseListQuery()
LINKED = "This child already has an open case; the referral was linked to it instead of opening another."


def referrals_blueprint(deps: Deps) -> Blueprint:
    blp = Blueprint("referrals", __name__, url_prefix="/v1/referrals", description="Referrals by schools.")
    protect(blp, deps)
    _submission(blp, deps)
    _reading(blp, deps)
    _changes(blp, deps)
    return blp


def own_case(deps: Deps, case_id: str) -> dict[str, Any]:
    """The caller's case, or 404 (also for other schools' cases: existence is not revealed).

    One read by ``_id``; the school is checked on the document (Cases.get_for_school).
    """
    case = deps.cases.get_for_school(case_id, school().school_id) if re.match(ID_PATTERN, case_id) else None
    if case is None:
        abort(404, message="No such case for this school.")
    return case


def check(errors: dict[str, list[str]]) -> None:
    if errors:
        abort(422, messages={"json": errors})


def _submission(blp: Blueprint, deps: Deps) -> None:
    @blp.route("", methods=["POST"])
    @blp.arguments(REFERRAL)
    @blp.response(201, SubmittedSchema, description="A new case was opened.")
    @blp.alt_response(200, schema=SubmittedSchema, description="Linked to the child's open case.")
    @blp.alt_response(409, description="Idempotency-Key already used with another body or for another child.")
    def submit(referral: dict[str, Any]) -> Any:
        """Refer a child. Send an ``Idempotency-Key`` header to make retries safe."""
        check(checks.referral_errors(referral, deps.clock()) | checks.sharing_errors(referral))
        stored = REFERRAL.dump(referral)
        school_id, key = school().school_id, request.headers.get(HEADER)
        if key is None:
            with refusals():
                return answer(deps.referrals.submit(school_id, stored))
        if not KEY_PATTERN.match(key):
            abort(400, message=f"{HEADER} must be 1-200 printable ASCII characters.")
        # The key's duplicate check is the case's own insert at an id derived from it
        # (services.referral.idempotency): no record, no round trip more than without a key.
        with refusals():
            result = deps.referrals.submit(school_id, stored, case_id_for(school_id, key), body_hash(stored))
        body, status = answer(result)
        if result.replayed:
            return body, status, {"Idempotent-Replayed": "true"}
        return body, status


def _reading(blp: Blueprint, deps: Deps) -> None:
    @blp.route("", methods=["GET"])
    @blp.arguments(LIST_QUERY, location="query", unknown=RAISE)
    @blp.response(200, CasePageSchema)
    def list_cases(query: dict[str, Any]) -> dict[str, Any]:
        """This school's cases, newest first; filter by ``status``."""
        found, total = deps.cases.page(
            school().school_id, query.get("status"), query["page"], query["per_page"]
        )
        items = [views.summary(case, deps.cipher) for case in found]
        return {"items": items, "page": query["page"], "per_page": query["per_page"], "total": total}

    @blp.route("/<case_id>", methods=["GET"])
    @blp.response(200, CaseSchema)
    def read(case_id: str) -> dict[str, Any]:
        """One case with its referral, status timeline and attendance reports."""
        return views.full(own_case(deps, case_id), deps.cipher)

    @blp.route("/<case_id>/fhir", methods=["GET"])
    @blp.response(
        200,
        ServiceRequestSchema,
        content_type="application/fhir+json",
        description="A FHIR R4 ServiceRequest.",
    )
    def fhir(case_id: str) -> Response:
        """The case as a FHIR R4 ServiceRequest with the child as a contained Patient."""
        case = own_case(deps, case_id)
        found = deps.db.schools.find_one({"_id": case["school_id"]}, {"name": 1})
        resource = service_request(case, deps.cipher.unseal(case["referral"]), (found or {}).get("name"))
        response = jsonify(resource)
        response.mimetype = "application/fhir+json"
        return response


def _changes(blp: Blueprint, deps: Deps) -> None:
    @blp.route("/<case_id>", methods=["PATCH"])
    @blp.arguments(AMENDMENT)
    @blp.response(200, CaseSchema)
    def amend(changes: dict[str, Any], case_id: str) -> dict[str, Any]:
        """Add or correct information; each section sent replaces the stored one (referral.amended)."""
        case = own_case(deps, case_id)
        check(checks.referral_errors(changes, deps.clock()))
        stored = AMENDMENT.dump(changes)
        check(checks.sharing_errors({**deps.cipher.unseal(case["referral"]), **stored}))
        with refusals():
            return views.full(deps.referrals.amend(case_id, school().school_id, stored, case), deps.cipher)

    @blp.route("/<case_id>/withdraw", methods=["POST"])
    @blp.arguments(WITHDRAWAL)
    @blp.response(200, CaseSchema)
    def withdraw(body: dict[str, Any], case_id: str) -> dict[str, Any]:
        """Withdraw the referral (referral.withdrawn); the case closes."""
        case = own_case(deps, case_id)
        with refusals():
            case = deps.referrals.withdraw(
                case_id, school().school_id, body["reason"], body.get("note"), case
            )
        return views.full(case, deps.cipher)

    @blp.route("/<case_id>/attendance", methods=["POST"])
    @blp.arguments(ATTENDANCE)
    @blp.response(202, ATTENDANCE)
    def report_attendance(body: dict[str, Any], case_id: str) -> dict[str, Any]:
        """Report a week's hours in school during the return plan (attendance.reported)."""
        case = own_case(deps, case_id)
        check(checks.attendance_errors(body["week_start"], deps.clock()))
        week = body["week_start"].isoformat()
        with refusals():
            deps.referrals.report_attendance(case_id, school().school_id, week, body["hours_by_day"], case)
        return body


def answer(result: Any) -> tuple[dict[str, Any], int]:
    body = {
        "case_id": result.case_id,
        "submitted_at": result.submitted_at,
        "duplicate": result.duplicate,
        "status": result.status,
    }
    if result.duplicate:
        body["message"] = LINKED
    return body, 200 if result.duplicate else 201


@contextmanager
def refusals() -> Iterator[None]:
    """Turn the commands' refusals into HTTP answers."""
    try:
        yield
    except CaseClosed:
        abort(409, message="The case is closed (withdrawn or discharged); it accepts no changes.")
    except NotReportable as exc:
        abort(409, message=f"Attendance is reported once the child has been seen (the case is {exc}).")
    except Contended:
        abort(409, message="The case changed while this request ran; please retry.")
    except KeyReused:
        abort(409, message=f"This {HEADER} was already used for another child's referral.")
    except IdempotencyConflict as exc:
        abort(409, message=str(exc))
    except LookupError:
        abort(404, message="No such case for this school.")
