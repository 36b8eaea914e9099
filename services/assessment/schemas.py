"""HTTP request and response schemas (marshmallow 4) for the clinician API and guardians' answers."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from services.assessment.domain import review
from services.assessment.domain.instruments import DECLINED
from services.assessment.domain.tasks import OUTCOMES
from services.assessment.measurement import InvalidResponses

BANDS = ("P1", "P2", "P3")


class QueueQuery(Schema):
    band = fields.Str(validate=validate.OneOf(BANDS), metadata={"description": "only this band"})
    limit = fields.Int(load_default=50, validate=validate.Range(min=1, max=500))
    offset = fields.Int(load_default=0, validate=validate.Range(min=0))


class CosignIn(Schema):
    note = fields.Str(validate=validate.Length(max=1000), metadata={"description": "the co-signer's note"})
    expected_version = fields.Int(
        validate=validate.Range(min=1),
        allow_none=True,
        load_default=None,
        metadata={"description": "the triage version the co-signer reviewed; 409 if it has changed"},
    )


class TaskListQuery(Schema):
    state = fields.Str(
        load_default="requested",
        validate=validate.OneOf(["requested", "acknowledged", "completed"]),
        metadata={"description": "the tasks in this state (FHIR: requested, accepted, completed)"},
    )
    owner = fields.Str(
        validate=validate.OneOf(["me", "unowned"]),
        load_default="me",
        metadata={"description": "my tasks, or the tasks nobody owns (a hospital without on-call)"},
    )


class ReviewDecisionIn(Schema):
    """A clinician's decision on a referral awaiting review (services/assessment/domain/review.py)."""

    decision = fields.Str(required=True, validate=validate.OneOf(review.DECISIONS))
    reason = fields.Str(
        validate=validate.OneOf(review.REJECT_REASONS), metadata={"description": "required to reject"}
    )
    information_needed = fields.List(
        fields.Str(validate=validate.OneOf(review.INFORMATION_NEEDED)),
        validate=validate.Length(min=1, max=len(review.INFORMATION_NEEDED)),
        metadata={"description": "required to return the referral to the school"},
    )
    redirect_to = fields.Str(
        validate=validate.OneOf(review.REDIRECT_TO), metadata={"description": "required to redirect"}
    )
    note = fields.Str(
        validate=validate.Length(max=1000),
        metadata={"description": "clinical record only: never sent to the school or on the bus"},
    )


class ReviewListQuery(Schema):
    hospital = fields.Str(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "the reviewing hospital (``default``: cases naming no hospital)"},
    )
    limit = fields.Int(load_default=50, validate=validate.Range(min=1, max=100))


class TaskCompleteIn(Schema):
    outcome = fields.Str(
        required=True,
        validate=validate.OneOf(OUTCOMES),
        metadata={"description": "what the contact achieved, from the fixed list"},
    )
    note = fields.Str(validate=validate.Length(max=1000), metadata={"description": "no names"})


class ContactsQuery(Schema):
    reason = fields.Str(
        required=True,
        validate=validate.Length(min=5, max=300),
        metadata={"description": "why the contact details are read (written to the access log)"},
    )


class OverrideIn(Schema):
    band = fields.Str(required=True, validate=validate.OneOf(BANDS))
    reason = fields.Str(
        required=True,
        validate=validate.Length(min=5, max=1000),
        metadata={
            "description": "why the clinician changes the priority (audited); no names",
            "multiline": True,
        },
    )
    score = fields.Int(validate=validate.Range(min=0, max=100), allow_none=True, load_default=None)
    expected_version = fields.Int(
        validate=validate.Range(min=1),
        allow_none=True,
        load_default=None,
        metadata={"description": "the triage version the clinician reviewed; 409 if it has changed"},
    )


class ResponseValue(fields.Field):
    """An item's response: an integer of its scale, or ``"declined"`` where the item may be declined."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int | str:
        if value == DECLINED or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise ValidationError(f'Not a valid response: an integer or "{DECLINED}".')


class ResponsesIn(Schema):
    informant = fields.Str(required=True, metadata={"description": "child, parent or teacher"})
    responses = fields.Dict(
        keys=fields.Str(),
        values=ResponseValue(),
        required=True,
        metadata={"description": 'item id → response value (an integer, or "declined" where allowed)'},
    )


class PlanWeekIn(Schema):
    week_start = fields.Date(required=True, metadata={"description": "a Monday"})
    target_hours_per_day = fields.Float(required=True, validate=validate.Range(min=0, max=10))


class PlanIn(Schema):
    weeks = fields.List(fields.Nested(PlanWeekIn), required=True, validate=validate.Length(min=1, max=52))


class Factor(Schema):
    code = fields.Str()
    points = fields.Int()
    value = fields.Raw()


class TriageVersion(Schema):
    version = fields.Int()
    band = fields.Str()
    score = fields.Int()
    target_days = fields.Int()
    rule_version = fields.Str()
    factors = fields.List(fields.Nested(Factor))
    clinic_type = fields.Str()
    school_intervention = fields.Bool()
    risk_reasons = fields.List(fields.Str())
    overridden = fields.Bool()
    override_kept_from = fields.Int()
    safety_floor = fields.Str(
        allow_none=True, metadata={"description": "band only a clinician's override may go below"}
    )
    unrecognised_codes = fields.List(
        fields.Str(), metadata={"description": "codes the rule table does not know: a clinician reviews them"}
    )
    held_for_safety = fields.Str(
        metadata={"description": "the rules gave a lower band; the band was held at this safety floor"}
    )
    at = fields.Str()
    by = fields.Str()
    reason = fields.Str(allow_none=True)
    trigger = fields.Str()
    cosigned_by = fields.Str(metadata={"description": "the second clinician who co-signed (HZ-11)"})
    cosigned_at = fields.Str()
    cosign_note = fields.Str(allow_none=True)


class QueueItem(Schema):
    case_id = fields.Str(attribute="_id")
    band = fields.Str()
    score = fields.Int()
    target_days = fields.Int()
    target_date = fields.Str()
    referred_on = fields.Str()
    triage_version = fields.Int()
    overridden = fields.Bool()
    clinic_type = fields.Str()
    school_intervention = fields.Bool()
    escalated = fields.Bool()
    needs_review = fields.Bool(
        metadata={"description": "a risk was withdrawn by an amendment: a clinician must review the band"}
    )


class Queue(Schema):
    total = fields.Int()
    items = fields.List(fields.Nested(QueueItem))


class QuestionnaireLink(Schema):
    invitation_id = fields.Str()
    url = fields.Str(metadata={"description": "the guardian's page; carries a secret token"})


class AnswersIn(Schema):
    """The guardian's body is a bare ``{instrument_id: {item_id: value}}``; loaded under ``answers``."""

    answers = fields.Dict(
        keys=fields.Str(validate=validate.Length(min=1, max=40)),
        values=fields.Dict(
            keys=fields.Str(validate=validate.Length(min=1, max=20)),
            values=ResponseValue(),
        ),
        required=True,
        validate=validate.Length(min=1, max=10),
    )


ANSWERS_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "description": "instrument id → (item id → response value)",
                "minProperties": 1,
                "maxProperties": 10,
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": {"oneOf": [{"type": "integer"}, {"enum": [DECLINED]}]},
                },
            }
        }
    },
}


def load_answers(body: Any) -> dict[str, dict[str, int]]:
    """Validate the guardian's body; field errors named ``<instrument>.<item>`` on failure (422)."""
    if not isinstance(body, dict):
        raise InvalidResponses({"_body": ["Must be a JSON object {instrument_id: {item_id: value}}."]})
    try:
        return AnswersIn().load({"answers": body})["answers"]
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {}
        answers = messages.get("answers", [])
        flat: dict[str, list[str]] = {}
        if isinstance(answers, list):
            flat["_body"] = [str(m) for m in answers]
        else:
            _flatten_dict_errors(answers, "", flat)
        raise InvalidResponses(flat) from None


def _flatten_dict_errors(errors: Any, prefix: str, out: dict[str, list[str]]) -> None:
    """marshmallow's Dict errors ``{k: {"key": [...], "value": ...}}`` → ``{"phq-a.9": [...]}``."""
    for key, sub in errors.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if not isinstance(sub, dict):
            out.setdefault(name, []).extend(str(m) for m in sub)
            continue
        for part in ("key", "value"):
            value = sub.get(part)
            if isinstance(value, dict):
                _flatten_dict_errors(value, name, out)
            elif value:
                out.setdefault(name, []).extend(str(m) for m in value)


class YoungPersonLinkIn(Schema):
    """A private questionnaire link for the young person (HZ-04)."""

    addressed_to = fields.String(required=True, validate=validate.OneOf(["young_person"]))
    due_by = fields.AwareDateTime(metadata={"description": "Default: a week from now."})


class YoungPersonLink(Schema):
    invitation_id = fields.String()
    case_id = fields.String()
    addressed_to = fields.String()
    instruments = fields.List(fields.String())
    due_by = fields.String()
    url = fields.String(metadata={"description": "Carries the secret token: hand it over in person only."})


# Response schemas for the routes that return documents built in the service layer. Their
# fields pass values through unchanged (an int score stays an int, a stored string keeps its
# format), so the schema documents and allow-lists the output without reshaping it. Nested
# structures defined elsewhere (FHIR parts, rule tables, instrument cut-offs) are described as
# objects with a pointer to their source.


class _Same:
    """Dump the value as it is: the shape is documented, the output is not converted."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class Text(_Same, fields.String):
    pass


class Whole(_Same, fields.Integer):
    pass


class Number(_Same, fields.Float):
    pass


class Flag(_Same, fields.Boolean):
    pass


class Obj(_Same, fields.Dict):
    pass


def _objects(description: str) -> fields.List:
    return fields.List(Obj(), metadata={"description": description})


class RuleTableOut(Schema):
    version = Text()
    table = Obj(metadata={"description": "The rule table as stored (services/assessment/rules/)."})


class EscalationOut(Schema):
    trigger = Text()
    action = Text()
    reasons = fields.List(Text())
    contact_within_hours = Whole()
    contact_deadline = Text(metadata={"format": "date-time"})


class TriageHistory(Schema):
    case_id = Text()
    status = Text()
    versions = fields.List(fields.Nested(TriageVersion))
    escalations = fields.List(fields.Nested(EscalationOut))
    needs_review = Flag()
    reviews = _objects("Reviews asked for: triage_version, reason, flags, at.")
    pending_override = Obj(allow_none=True, metadata={"description": "An override awaiting co-signature."})
    override_audit = _objects("Every override request, co-signature and refusal: kind, by, at, ...")


class PendingOverride(Schema):
    state = Text(metadata={"description": "awaiting_cosignature"})
    band = Text()
    score = Whole(allow_none=True)
    reason = Text()
    by = Text()
    at = Text(metadata={"format": "date-time"})
    for_version = Whole()
    from_band = Text()


class FhirTask(Schema):
    """A FHIR R4 Task (services/assessment/domain/tasks.py ``to_fhir``)."""

    resourceType = Text()
    id = Text()
    status = Text()
    intent = Text()
    priority = Text()
    code = Obj()
    description = Text()
    focus = Obj()
    for_ = Obj(data_key="for", attribute="for")
    authoredOn = Text()
    lastModified = Text()
    owner = Obj()
    location = Obj()
    restriction = Obj()
    reasonCode = Obj()
    output = _objects("The outcome, once completed.")


class FhirQuestionnaireResponse(Schema):
    """A FHIR R4 QuestionnaireResponse (services/assessment/domain/fhir.py); sent as FHIR JSON."""

    resourceType = Text()
    id = Text()
    identifier = Obj()
    questionnaire = Text(metadata={"description": "canonical URL|instrument version"})
    status = Text()
    subject = Obj(metadata={"description": "The case identifier only (no personal data)."})
    authored = Text()
    source = Obj(metadata={"description": "Who answered: the young person or the parent."})
    item = _objects("linkId and answers; confidential items only for CONFIDENTIAL_READERS (HZ-04).")
    meta = Obj(metadata={"description": "security label REDACTED when confidential items were left out"})


class FhirObservationBundle(Schema):
    """A FHIR R4 searchset Bundle of score Observations (services/assessment/domain/fhir.py)."""

    resourceType = Text()
    type = Text()
    total = Whole()
    entry = _objects(
        "{resource: Observation} per score: code (LOINC where one exists), value, effective time."
    )


class FhirReviewTask(FhirTask):
    """The case's clinician review as a FHIR R4 Task (``review_task``)."""

    input = _objects("One per review reason: its code and text.")


class FhirTaskList(Schema):
    items = fields.List(fields.Nested(FhirTask))


class TaskHistory(Schema):
    task_id = Text()
    state = Text()
    owner = Text()
    history = _objects("Who acknowledged and completed the task, and every alert raised, in order.")


class Guardian(Schema):
    relationship = Text(allow_none=True)
    name = Text(allow_none=True)
    phone = Text(allow_none=True)
    email = Text(allow_none=True)
    language = Text(allow_none=True)


class Contacts(Schema):
    case_id = Text()
    language = Text(allow_none=True)
    guardians = fields.List(fields.Nested(Guardian))


class AccessEntry(Schema):
    case_id = Text()
    by = Text()
    at = Text(metadata={"format": "date-time"})
    why = Text()
    task_id = Text()


class AccessLog(Schema):
    case_id = Text()
    items = fields.List(fields.Nested(AccessEntry))


class InstrumentOut(Schema):
    id = Text()
    version = Text()
    name = Text()
    informants = fields.List(Text())
    licence = Obj()
    licensed = Flag()
    text_withheld = Flag()
    item_count = Whole()
    subscales = fields.List(Text())


class InstrumentList(Schema):
    items = fields.List(fields.Nested(InstrumentOut))


class InstrumentDetail(InstrumentOut):
    stem = Text(allow_none=True)
    scales = Obj(metadata={"description": "Per scale: [{value, label}]."})
    items = _objects("Each item: id, scale, required, reverse, text (null when withheld).")
    scoring = _objects("Each subscale: code, items, method.")
    cutoffs = Obj(metadata={"description": "Per scale and informant: [[low, high, label]]."})
    flags = _objects("Each flag: code, escalate.")
    notes = Text()


class Administration(Schema):
    n = Whole()
    instrument = Text()
    instrument_version = Text()
    informant = Text()
    responses = Obj()
    scores = Obj()
    bands = Obj()
    flags = fields.List(Text())
    declined = fields.List(Text())
    at = Text(metadata={"format": "date-time"})
    by = Text()


class TrajectoryPoint(Schema):
    n = Whole()
    at = Text(metadata={"format": "date-time"})
    informant = Text()
    instrument_version = Text()
    scores = Obj()
    bands = Obj()
    flags = fields.List(Text())


class Trajectory(Schema):
    case_id = Text()
    instrument = Text()
    points = fields.List(fields.Nested(TrajectoryPoint))
    change = Obj(metadata={"description": "Per informant: last minus first score per scale."})
    combined_profile = Obj(metadata={"description": "informants, means, profile (profiled instruments)."})


class PlanWeekOut(Schema):
    week_start = Text(metadata={"format": "date"})
    target_hours_per_day = Number()


class PlanOut(Schema):
    version = Whole()
    weeks = fields.List(fields.Nested(PlanWeekOut))
    at = Text(metadata={"format": "date-time"})
    by = Text()


class ReturnPlanView(Schema):
    case_id = Text()
    plan = fields.Nested(PlanOut, allow_none=True)
    progress = _objects("Per week: week_start, target and mean hours a day, status.")
    relapses = _objects("Relapses detected against the plan.")
    plan_history = _objects("Each plan version: version, at, by.")


class QuestionnaireView(Schema):
    state = Text()
    due_by = Text(metadata={"format": "date-time"})
    addressed_to = Text()
    language = Text()
    instruments = _objects("Each instrument: id, name, stem, items with options.")
    crisis = Obj(metadata={"description": "Where to get help now (region, language, lines)."})


class QuestionnaireSubmitted(Schema):
    state = Text()
    instruments = fields.List(Text())
    crisis = Obj(metadata={"description": "Only when an answer raised a risk flag."})


class ReviewItem(Schema):
    """A referral awaiting this hospital's review (no personal data: codes and dates)."""

    case_id = Text(attribute="_id", required=True)
    status = Text()
    referred_on = Text()
    review = Obj(metadata={"description": "hospital_id, round, requested_at, due_at"})
    review_due_at = Text()
    escalated = Flag()
    escalated_reasons = fields.List(Text())


class ReviewList(Schema):
    items = fields.List(fields.Nested(ReviewItem), required=True)


class ReviewView(Schema):
    """The referral as the reviewer decides on it, its round and past decisions."""

    case_id = Text(required=True)
    status = Text()
    referral = Obj(metadata={"description": "The referral's codes and facts as assessment holds them."})
    referred_on = Text()
    review = Obj()
    review_decisions = _objects(
        "Each decision: outcome, at, by, round, reason / information_needed / redirect_to."
    )
    escalated = Flag()
    escalations = _objects("The case's escalations (risk seen before acceptance escalates at once).")


class ReviewDecision(Schema):
    """The decision as recorded (the note stays in assessment; the school gets codes only)."""

    case_id = Text(required=True)
    status = Text(required=True)
    outcome = Text(required=True, metadata={"enum": ["accepted", "rejected", "returned", "redirected"]})
    at = Text(required=True)
    by = Text(required=True)
    round = Whole(required=True)
    reason = Text()
    information_needed = fields.List(Text())
    redirect_to = Text()
    note = Text()
