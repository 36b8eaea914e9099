"""The clinician API: the triage queue, a case's triage history, overrides, instruments, return plans.

Every clinician route needs a clinician's staff token. Two more blueprints serve the
guardians' intake questionnaires: the link route for the notification service (staff
token with role ``service``) and the guardian's answers, authorised by the link's token
alone (no login; it shows nothing but the invited instruments' text). Domain refusals map to the shared JSON
error body: unknown case 404, withdrawn case or stale version 409, unlicensed
instrument 403, responses or plan that do not fit 422 naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Response, g, jsonify, request
from flask_smorest import Blueprint, abort

from services.assessment import schemas, scope, views
from services.assessment.casework import (
    CaseClosed,
    Casework,
    CosignRefused,
    NotAccepted,
    StaleVersion,
    ThinReason,
)
from services.assessment.contacts import ReferralUnavailable
from services.assessment.domain import tasks as task_rules
from services.assessment.domain.instruments import Instrument
from services.assessment.followup import FollowUp, InvalidPlan
from services.assessment.measurement import InvalidResponses, LicenceRequired, Measurement
from services.assessment.questionnaires import (
    AlreadySubmitted,
    ConsentRequired,
    InvitationClosed,
    NothingToAsk,
    Questionnaires,
    UnknownInvitation,
)
from services.assessment.repository import ConcurrentChange, UnknownCase
from services.assessment.review import DecisionIncomplete, NotYourHospital, ReviewRefused
from services.assessment.tasks import NotYourCase, Tasks, TransitionRefused, UnknownTask
from shared.auth import StaffTokens, require_staff
from shared.http import error_body

ROLE = "clinician"
SERVICE_ROLE = "service"
ERRORS: Mapping[type[Exception], tuple[int, str, str]] = {
    UnknownCase: (404, "not_found", "No such case in assessment."),
    CaseClosed: (409, "case_withdrawn", "The case was withdrawn."),
    StaleVersion: (409, "stale_version", "The triage changed since you reviewed it; reload."),
    ConcurrentChange: (409, "conflict", "The case is changing right now; try again."),
    LicenceRequired: (403, "licence_required", "The network holds no licence for this instrument."),
    CosignRefused: (409, "cosign_refused", "No override awaits your co-signature."),
    UnknownTask: (404, "not_found", "No such task of yours."),
    TransitionRefused: (409, "task_state", "The task has already moved on; reload it."),
    NotYourCase: (
        403,
        "no_task_on_case",
        "You hold no task on this case: its contacts are not yours to read.",
    ),
    NotAccepted: (409, "not_accepted", "The referral has not been accepted; it has no triage yet."),
    ReviewRefused: (
        409,
        "not_awaiting_review",
        "The referral is not awaiting review (decided, or returned).",
    ),
    NotYourHospital: (404, "not_found", "No referral awaiting your hospital's review."),
    ReferralUnavailable: (503, "referral_unavailable", "The referral service did not answer; try again."),
    InvitationClosed: (409, "case_withdrawn", "The case was withdrawn."),
    ConsentRequired: (403, "consent_required", "No guardian consented to questionnaires."),
    NothingToAsk: (
        422,
        "no_instrument_fits",
        "No questionnaire fits this child (validated age range, licence, informant form).",
    ),
}
QUESTIONNAIRE_ERRORS: Mapping[type[Exception], tuple[int, str, str]] = {
    UnknownInvitation: (404, "not_found", "No such questionnaire."),
    InvitationClosed: (410, "gone", "This questionnaire can no longer be answered."),
    AlreadySubmitted: (409, "already_submitted", "This questionnaire has already been submitted."),
    ConcurrentChange: (409, "conflict", "The case is changing right now; try again."),
}


@dataclass
class Api:
    tokens: StaffTokens
    casework: Casework
    measurement: Measurement
    followup: FollowUp
    instruments: Mapping[str, Instrument]
    licensed: frozenset[str]
    questionnaires: Questionnaires
    tasks: Tasks
    rule_table: Callable[[str], dict[str, Any] | None] = lambda _version: None
    """The effective rule table stored under a triage's ``rule_version`` (HZ-06b)."""


def in_scope(deps: Api, case_id: str) -> None:
    """404 (as for no such case) unless the caller's scope covers the case (services/assessment/scope.py).

    A hospital-scoped clinician sees a case of a hospital they cover (holding, preferred,
    reviewing), and a case on which they own a task of such a hospital (a booking moved
    away does not take the owner's escalation away from them). Regional: every case."""
    principal = g.principal
    if principal.regional:
        return
    doc = deps.casework.repo.get(case_id, scope.CASE_FIELDS)
    if doc is None:
        raise UnknownCase(case_id)
    if scope.covers(principal, scope.case_hospitals(doc)):
        return
    if deps.tasks.holds_task_on(case_id, principal.subject, scope.task_filter(principal)):
        return
    raise UnknownCase(case_id)


def _task_visible() -> Callable[[Mapping[str, Any]], bool]:
    principal = g.principal
    return lambda task: scope.covers_task(principal, task)


def blueprints(deps: Api) -> list[Blueprint]:
    return [
        _triage(deps),
        _review(deps),
        _tasks(deps),
        _instruments(deps),
        _followup(deps),
        _questionnaire_links(deps),
        _questionnaire_responses(deps),
    ]


def _guarded(name: str, description: str, deps: Api) -> Blueprint:
    blp = Blueprint(name, __name__, url_prefix="/v1", description=description)

    @blp.before_request
    def _clinicians_only() -> None:
        require_staff(deps.tokens, ROLE)

    for error, (status, code, message) in ERRORS.items():
        blp.register_error_handler(error, _answer(status, code, message))
    for error in (InvalidResponses, InvalidPlan):
        blp.register_error_handler(error, _invalid)
    blp.register_error_handler(ThinReason, _thin_reason)
    blp.register_error_handler(CosignRefused, _refused)
    blp.register_error_handler(DecisionIncomplete, _incomplete)
    return blp


def _incomplete(exc: DecisionIncomplete) -> Any:
    errors = {exc.field: ["Required for this decision, from the fixed list."]}
    return jsonify(error_body(422, "validation_failed", "The request is invalid; see fields.", errors)), 422


def _thin_reason(exc: ThinReason) -> Any:
    body = error_body(422, "validation_failed", "The request is invalid; see fields.", {"reason": [str(exc)]})
    return jsonify(body), 422


def _refused(exc: CosignRefused) -> Any:
    return jsonify(error_body(409, "cosign_refused", str(exc))), 409


def _answer(status: int, code: str, message: str) -> Callable[[Exception], Any]:
    return lambda _exc: (jsonify(error_body(status, code, message)), status)


def _invalid(exc: InvalidResponses | InvalidPlan) -> Any:
    return jsonify(
        error_body(422, "validation_failed", "The request is invalid; see fields.", exc.errors)
    ), 422


def _triage(deps: Api) -> Blueprint:
    blp = _guarded("triage", "Triage queue, history and clinician overrides", deps)

    @blp.get("/triage/queue")
    @blp.arguments(schemas.QueueQuery, location="query")
    @blp.response(200, schemas.Queue)
    def queue(query: dict[str, Any]) -> dict[str, Any]:
        """Escalated cases first, then by band, score (highest first), referral date."""
        within = scope.list_filter(g.principal)
        items, total = deps.casework.repo.queue(query.get("band"), query["limit"], query["offset"], within)
        return {"total": total, "items": [views.queue_item(doc) for doc in items]}

    @blp.get("/triage/rules/<version>")
    @blp.response(200, schemas.RuleTableOut)
    def rule_table(version: str) -> dict[str, Any]:
        """The exact rule table (targets and contact hours applied) a stored triage's version names."""
        found = deps.rule_table(version)
        if found is None:
            abort(404, message=f"No rule table {version!r}.")
        return found

    @blp.get("/cases/<case_id>/triage")
    @blp.response(200, schemas.TriageHistory)
    def history(case_id: str) -> dict[str, Any]:
        """Every triage version of the case, with factors, points, rule version and audit."""
        in_scope(deps, case_id)
        fields = (
            "triage",
            "escalations",
            "status",
            "needs_review",
            "reviews",
            "pending_override",
            "override_audit",
        )
        doc = deps.casework.repo.get(case_id, dict.fromkeys(fields, 1))
        if doc is None:
            raise UnknownCase(case_id)
        versions = schemas.TriageVersion(many=True).dump(doc["triage"])
        return {
            "case_id": case_id,
            "status": doc["status"],
            "versions": versions,
            "escalations": doc["escalations"],
            "needs_review": bool(doc.get("needs_review")),
            "reviews": doc.get("reviews", []),
            "pending_override": doc.get("pending_override"),
            "override_audit": doc.get("override_audit", []),
        }

    @blp.post("/cases/<case_id>/triage/override")
    @blp.arguments(schemas.OverrideIn)
    @blp.response(201, schemas.TriageVersion)
    @blp.alt_response(
        202,
        schema=schemas.PendingOverride,
        description="lowering an escalated case: held until a second clinician co-signs",
    )
    def override(body: dict[str, Any], case_id: str) -> Any:
        """Set the band by clinical judgement; the reason is required and audited with who and when.

        Lowering an escalated case's band needs a reason of at least 20 letters and takes
        effect only when a second clinician co-signs it (202 ``awaiting_cosignature``).
        """
        in_scope(deps, case_id)
        result = deps.casework.override(
            case_id,
            body["band"],
            body["score"],
            body["reason"].strip(),
            g.principal.subject,
            body["expected_version"],
        )
        if result.get("state") == "awaiting_cosignature":
            return jsonify(result), 202
        return result

    @blp.post("/cases/<case_id>/triage/override/cosign")
    @blp.arguments(schemas.CosignIn)
    @blp.response(201, schemas.TriageVersion)
    def cosign(body: dict[str, Any], case_id: str) -> dict[str, Any]:
        """A second clinician co-signs the pending override of an escalated case; it takes effect now."""
        in_scope(deps, case_id)
        return deps.casework.cosign(case_id, g.principal.subject, body.get("note"), body["expected_version"])

    return blp


def _review(deps: Api) -> Blueprint:
    blp = _guarded("review", "Referral review before acceptance (hospitals configured for review)", deps)

    @blp.get("/reviews")
    @blp.arguments(schemas.ReviewListQuery, location="query")
    @blp.response(200, schemas.ReviewList)
    def worklist(query: dict[str, Any]) -> dict[str, Any]:
        """Referrals awaiting this hospital's review: escalated first, then oldest referral date."""
        if not g.principal.can_act_for(query["hospital"]):
            abort(403, message="Your token does not cover this hospital.")
        found = deps.casework.repo.awaiting_review(query["hospital"], query["limit"])
        return views.with_iso_times({"items": found})

    @blp.get("/cases/<case_id>/review")
    @blp.response(200, schemas.ReviewView)
    def review_of(case_id: str) -> dict[str, Any]:
        """The referral as the reviewer decides on it (codes and facts, no personal data: the
        school's own words are on referral's clinical note route), its round and past decisions."""
        return views.with_iso_times(deps.casework.review_of(case_id, g.principal.can_act_for))

    @blp.post("/cases/<case_id>/review")
    @blp.arguments(schemas.ReviewDecisionIn)
    @blp.response(200, schemas.ReviewDecision)
    def decide(body: dict[str, Any], case_id: str) -> dict[str, Any]:
        """Accept (triage starts), reject with a reason, return to the school for information, or redirect.

        Only a clinician scoped to the reviewing hospital (or regional) decides; others get 404.
        The decision completes the review task and reaches the school as codes only.
        """
        principal = g.principal
        details = {k: v for k, v in body.items() if k != "decision"}
        decided = deps.casework.decide_review(
            case_id, body["decision"], principal.subject, details, principal.can_act_for
        )
        deps.tasks.close_review(case_id, decided["round"], principal.subject, "review_" + decided["outcome"])
        return {k: v for k, v in decided.items() if v is not None}

    return blp


def _tasks(deps: Api) -> Blueprint:
    blp = _guarded("tasks", "Escalation and safeguarding tasks (FHIR Task), contacts, access log", deps)

    @blp.get("/tasks")
    @blp.arguments(schemas.TaskListQuery, location="query")
    @blp.response(200, schemas.FhirTaskList)
    def worklist(query: dict[str, Any]) -> dict[str, Any]:
        """My tasks (or the unowned ones) in one state, soonest due first, as FHIR Tasks.

        A hospital-scoped clinician sees only tasks of the hospitals they cover."""
        owner = task_rules.UNOWNED if query["owner"] == "unowned" else g.principal.subject
        found = deps.tasks.for_owner(owner, query["state"], within=scope.task_filter(g.principal))
        return {"items": [task_rules.to_fhir(t) for t in found]}

    @blp.get("/tasks/<task_id>")
    @blp.response(200, schemas.FhirTask, content_type="application/fhir+json")
    def task(task_id: str) -> Any:
        """The task as a FHIR R4 Task resource (application/fhir+json)."""
        resource = task_rules.to_fhir(deps.tasks.get(task_id, _task_visible()))
        return Response(json.dumps(resource), mimetype="application/fhir+json")

    @blp.get("/tasks/<task_id>/history")
    @blp.response(200, schemas.TaskHistory)
    def task_history(task_id: str) -> dict[str, Any]:
        """Who acknowledged and completed the task, and every alert raised, in order."""
        found = deps.tasks.get(task_id, _task_visible())
        body = {
            "task_id": task_id,
            "state": found["state"],
            "owner": found["owner"],
            "history": found["history"],
        }
        return views.with_iso_times(body)

    @blp.post("/tasks/<task_id>/acknowledge")
    @blp.response(200, schemas.FhirTask)
    def acknowledge(task_id: str) -> dict[str, Any]:
        """The owner has seen the task and is acting (FHIR status ``accepted``); stops the re-alert."""
        return task_rules.to_fhir(deps.tasks.acknowledge(task_id, g.principal.subject, _task_visible()))

    @blp.post("/tasks/<task_id>/complete")
    @blp.arguments(schemas.TaskCompleteIn)
    @blp.response(200, schemas.FhirTask)
    def complete(body: dict[str, Any], task_id: str) -> dict[str, Any]:
        """Close the task with an outcome from the fixed list; stops the breach alert."""
        done = deps.tasks.complete(
            task_id, g.principal.subject, body["outcome"], body.get("note"), _task_visible()
        )
        return task_rules.to_fhir(done)

    @blp.get("/cases/<case_id>/contacts")
    @blp.arguments(schemas.ContactsQuery, location="query")
    @blp.response(200, schemas.Contacts)
    def contacts(query: dict[str, Any], case_id: str) -> dict[str, Any]:
        """The family's contact details, for a clinician holding a task on the case; the read is logged.

        A hospital-scoped clinician: a task of a hospital they cover; a case outside their
        hospitals answers 404 (no oracle), one inside without a task of theirs 403."""
        principal = g.principal
        try:
            found = deps.tasks.contact_details(
                case_id, principal.subject, query["reason"].strip(), scope.task_filter(principal)
            )
        except NotYourCase:
            in_scope(deps, case_id)
            raise
        return dict(found)

    @blp.get("/cases/<case_id>/access-log")
    @blp.response(200, schemas.AccessLog)
    def access_log(case_id: str) -> dict[str, Any]:
        """Who read the family's contact details, when and why (oldest first)."""
        return {"case_id": case_id, "items": views.with_iso_times(deps.tasks.access_entries(case_id))}

    return blp


def _instruments(deps: Api) -> Blueprint:
    blp = _guarded("instruments", "Standardised instruments: definitions, responses, trajectories", deps)

    def find(instrument_id: str) -> Instrument:
        found = deps.instruments.get(instrument_id)
        if found is None:
            abort(404, message=f"No instrument {instrument_id!r}.")
        return found

    @blp.get("/instruments")
    @blp.response(200, schemas.InstrumentList)
    def catalogue() -> dict[str, Any]:
        """Every instrument with its version and licence state."""
        return {
            "items": [views.instrument(i, deps.licensed, detail=False) for i in deps.instruments.values()]
        }

    @blp.get("/instruments/<instrument_id>")
    @blp.response(200, schemas.InstrumentDetail)
    def definition(instrument_id: str) -> dict[str, Any]:
        """Items, scales, scoring and cut-offs; item text withheld unless free or licensed."""
        return views.instrument(find(instrument_id), deps.licensed, detail=True)

    @blp.post("/cases/<case_id>/instruments/<instrument_id>/responses")
    @blp.arguments(schemas.ResponsesIn)
    @blp.response(201, schemas.Administration)
    def respond(body: dict[str, Any], case_id: str, instrument_id: str) -> dict[str, Any]:
        """Score one administration; safety items (PHQ-A 9, ASQ) escalate at once."""
        instrument = find(instrument_id)
        in_scope(deps, case_id)
        return deps.measurement.record(
            case_id, instrument, body["informant"], body["responses"], g.principal.subject
        )

    @blp.post("/cases/<case_id>/questionnaires")
    @blp.arguments(schemas.YoungPersonLinkIn)
    @blp.response(201, schemas.YoungPersonLink)
    def young_person_link(body: dict[str, Any], case_id: str) -> dict[str, Any]:
        """A private questionnaire link for the young person, for the clinician to hand over in person.

        Self-report instruments the child is certainly old enough for (PHQ-A, GAD-7: 11-17);
        never sent to the guardian's channel (no event). The informant recorded is ``child``.
        """
        del body["addressed_to"]  # only young_person: guardian links come with the intake booking
        return deps.questionnaires.for_young_person(case_id, g.principal.subject, body.get("due_by"))

    @blp.get("/cases/<case_id>/instruments/<instrument_id>/trajectory")
    @blp.response(200, schemas.Trajectory)
    def trajectory(case_id: str, instrument_id: str) -> dict[str, Any]:
        """Scores over repeated administrations, change since the first, combined profile."""
        instrument = find(instrument_id)
        in_scope(deps, case_id)
        return deps.measurement.trajectory(case_id, instrument)

    return blp


def _followup(deps: Api) -> Blueprint:
    blp = _guarded("return_plan", "Graded return plan and progress against it", deps)

    @blp.post("/cases/<case_id>/return-plan")
    @blp.arguments(schemas.PlanIn)
    @blp.response(201, schemas.PlanOut)
    def set_plan(body: dict[str, Any], case_id: str) -> dict[str, Any]:
        """Replace the plan's weekly targets (hours a day at school); publishes returnplan.updated."""
        return deps.followup.set_plan(case_id, body["weeks"], g.principal.subject)

    @blp.get("/cases/<case_id>/return-plan")
    @blp.response(200, schemas.ReturnPlanView)
    def plan(case_id: str) -> dict[str, Any]:
        """The plan, each week's attendance against target, and detected relapses."""
        return deps.followup.view(case_id)

    return blp


def _with_questionnaire_errors(blp: Blueprint) -> Blueprint:
    for error, (status, code, message) in QUESTIONNAIRE_ERRORS.items():
        blp.register_error_handler(error, _answer(status, code, message))
    blp.register_error_handler(InvalidResponses, _invalid)
    return blp


def _questionnaire_links(deps: Api) -> Blueprint:
    blp = Blueprint(
        "questionnaires",
        __name__,
        url_prefix="/v1",
        description="Guardian questionnaire links, for the notification service to send",
    )

    @blp.before_request
    def _services_only() -> None:
        require_staff(deps.tokens, SERVICE_ROLE)

    @blp.get("/questionnaires/<invitation_id>/link")
    @blp.response(200, schemas.QuestionnaireLink)
    def link(invitation_id: str) -> dict[str, Any]:
        """The guardian's questionnaire link (carries its secret token; never put on the bus or stored)."""
        return {"invitation_id": invitation_id, "url": deps.questionnaires.link(invitation_id)}

    return _with_questionnaire_errors(blp)


def _questionnaire_responses(deps: Api) -> Blueprint:
    blp = Blueprint(
        "questionnaire_responses",
        __name__,
        url_prefix="/v1",
        description="Questionnaire answers (guardian or young person), authorised by the link's token (no login)",
    )

    @blp.get("/questionnaire-responses/<token>")
    @blp.response(200, schemas.QuestionnaireView)
    def view(token: str) -> dict[str, Any]:
        """The invited instruments' items and options (``?lang=zh-CN|en``), due date, crisis resources."""
        return deps.questionnaires.view(token, request.args.get("lang"))

    @blp.post("/questionnaire-responses/<token>")
    @blp.doc(requestBody=schemas.ANSWERS_BODY)
    @blp.response(201, schemas.QuestionnaireSubmitted)
    def submit(token: str) -> dict[str, Any]:
        """Answer every invited instrument at once: ``{instrument_id: {item_id: value}}``; once only."""
        answers = schemas.load_answers(request.get_json(silent=True))
        return deps.questionnaires.submit(token, answers, request.args.get("lang"))

    return _with_questionnaire_errors(blp)
