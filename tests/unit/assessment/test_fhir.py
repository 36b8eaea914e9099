"""Assessment's FHIR exports are valid R4 (fhir.resources R4B, as referral's ServiceRequest test:
R4B's QuestionnaireResponse, Observation, Task and Bundle are R4's), built from real
administrations, and follow the clinician routes' rules."""

from __future__ import annotations

import re

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from fhir.resources.R4B.task import Task

from services.assessment import catalogue
from services.assessment.config import AssessmentConfig
from services.assessment.domain import fhir
from shared.auth import StaffTokens
from shared.events import Event
from tests.unit.assessment.conftest import SECRET, amended, outbox, submitted

INSTRUMENTS = catalogue.load_instruments(AssessmentConfig())
PHQ_A = {str(n): v for n, v in enumerate([2, 1, 3, 1, 2, 0, 1, 1, "declined"], 1)} | {"12": 0, "13": 1}
"""A young person's PHQ-A: total 11 (moderate), item 9 declined, a lifetime attempt (item 13)."""


def token(role: str = "clinician", hospitals: tuple[str, ...] = ("*",)) -> dict[str, str]:
    return {"Authorization": f"Bearer {StaffTokens(SECRET).issue('dr-li', role, hospitals)}"}


@pytest.fixture
def scored(handle, client):
    """case-1 with a PHQ-A by the young person (in clinic) and two GAD-7s, as the clinician routes record them."""
    handle(submitted(age_years=14))
    for instrument, body in [
        ("phq-a", {"informant": "child", "responses": PHQ_A}),
        ("gad-7", {"informant": "child", "responses": {str(n): 2 for n in range(1, 8)}}),
        ("gad-7", {"informant": "child", "responses": {str(n): 1 for n in range(1, 8)}}),
    ]:
        reply = client.post(
            f"/v1/cases/case-1/instruments/{instrument}/responses", json=body, headers=token()
        )
        assert reply.status_code == 201, reply.json
    return client


def administration(db, instrument: str, n: int = 1) -> dict:
    doc = db.cases.find_one({"_id": "case-1"})
    return next(a for a in doc["administrations"] if a["instrument"] == instrument and a["n"] == n)


class TestQuestionnaireResponse:
    def test_an_administration_is_a_valid_response_with_every_answer_for_a_clinician(self, scored, db):
        stored = administration(db, "phq-a")
        resource = QuestionnaireResponse.model_validate(
            fhir.questionnaire_response("case-1", INSTRUMENTS["phq-a"], stored, confidential=True)
        )
        assert resource.status == "completed"
        assert resource.questionnaire == "https://waymark.invalid/fhir/Questionnaire/phq-a|2002.1"
        assert resource.authored.isoformat() == "2025-03-10T09:00:00+00:00"
        assert resource.source.type == "Patient" and resource.source.identifier.value == "case-1"
        assert resource.subject.identifier.value == "case-1" and resource.subject.reference is None
        assert resource.author.reference == "Practitioner/dr-li"  # recorded by a clinician in clinic
        answers = {i.linkId: i.answer[0] for i in resource.item}
        assert list(answers) == ["1", "2", "3", "4", "5", "6", "7", "8", "9", "12", "13"]
        assert answers["1"].valueInteger == 2 and answers["13"].valueInteger == 1
        assert answers["9"].valueCoding.code == "declined"  # never a number that could read as "no"
        assert resource.meta is None
        assert all(i.text is None for i in resource.item)  # wording is the definition's, not exported

    def test_confidential_items_are_withheld_and_labelled_for_other_readers(self, scored, db):
        stored = administration(db, "phq-a")
        exported = fhir.questionnaire_response("case-1", INSTRUMENTS["phq-a"], stored, confidential=False)
        resource = QuestionnaireResponse.model_validate(exported)
        assert [i.linkId for i in resource.item] == ["1", "2", "3", "4", "5", "6", "7", "8"]
        assert resource.meta.security[0].code == "REDACTED"

    def test_a_parent_answering_on_the_link_is_a_related_person_source_with_no_author(self, scored, db):
        stored = {**administration(db, "gad-7"), "informant": "parent", "by": "guardian:inv-1"}
        resource = QuestionnaireResponse.model_validate(
            fhir.questionnaire_response("case-1", INSTRUMENTS["gad-7"], stored, confidential=False)
        )
        assert resource.source.type == "RelatedPerson" and resource.source.identifier is None
        assert resource.author is None and resource.meta is None  # GAD-7 has no confidential item


class TestObservation:
    def test_the_phq_a_total_carries_its_loinc_code_band_and_source(self, scored, db):
        [total] = [
            Observation.model_validate(o)
            for o in fhir.observations("case-1", INSTRUMENTS["phq-a"], administration(db, "phq-a"))
        ]
        assert [(c.system, c.code) for c in total.code.coding] == [
            ("http://loinc.org", "89204-2"),
            ("https://waymark.invalid/fhir/CodeSystem/instrument-score", "phq-a/total"),
        ]
        assert total.valueQuantity.value == 11 and total.valueQuantity.code == "{score}"
        assert total.interpretation[0].coding[0].code == "moderate"
        assert total.category[0].coding[0].code == "survey"
        assert total.derivedFrom[0].reference == "QuestionnaireResponse/case-1.phq-a.1"
        assert total.effectiveDateTime.isoformat() == "2025-03-10T09:00:00+00:00"

    def test_an_instrument_without_a_loinc_code_has_only_the_waymark_code(self):
        administration = {
            "n": 1,
            "instrument": "sdq",
            "at": "2025-03-10T09:00:00Z",
            "scores": {"emotional": 7, "total_difficulties": 18},
            "bands": {"emotional": "high"},
        }
        found = [
            Observation.model_validate(o)
            for o in fhir.observations("case-1", INSTRUMENTS["sdq"], administration)
        ]
        assert [o.code.coding[0].code for o in found] == ["sdq/emotional", "sdq/total_difficulties"]
        assert found[1].id == "case-1.sdq.1.total-difficulties"  # a FHIR id has no "_"
        assert all(len(o.code.coding) == 1 for o in found)
        assert found[1].interpretation is None


def test_ids_stay_fhir_ids_however_long_our_own_are():
    long_case = "c-" + "0" * 60
    ids = {fhir.fhir_id(long_case, "rcads-47", n, "total_internalizing") for n in (1, 2)}
    assert len(ids) == 2 and all(len(i) <= 64 and re.fullmatch(r"[A-Za-z0-9\-.]+", i) for i in ids)


class TestReviewTask:
    def test_an_unknown_code_is_a_requested_review_task_and_a_decision_completes_it(self, handle, db, client):
        handle(submitted(concerns=["psychosis"]))
        path = "/v1/cases/case-1/review/fhir"
        open_ = Task.model_validate(client.get(path, headers=token()).json)
        assert open_.status == "requested" and open_.intent == "order"
        assert open_.input[0].type.coding[0].code == "unrecognised_codes"
        assert open_.input[0].valueString == "triage version 1: concerns:psychosis"
        decided = client.post(
            "/v1/cases/case-1/triage/override",
            json={"band": "P2", "reason": "reviewed the concern"},
            headers=token(),
        )
        assert decided.status_code == 201, decided.json
        done = Task.model_validate(client.get(path, headers=token()).json)
        assert done.status == "completed"

    def test_a_withdrawn_risk_flag_is_an_urgent_review(self, handle, db):
        handle(submitted(risk_flags=["self_harm"]))
        handle(amended(risk_flags=[]))
        task = Task.model_validate(fhir.review_task("case-1", db.cases.find_one({"_id": "case-1"})))
        assert task.priority == "urgent" and task.input[0].valueString == "triage version 2: self_harm"

    def test_a_case_that_never_needed_review_has_no_task(self, handle, db, client):
        handle(submitted())
        assert fhir.review_task("case-1", db.cases.find_one({"_id": "case-1"})) is None
        assert client.get("/v1/cases/case-1/review/fhir", headers=token()).status_code == 404


class TestRoutes:
    def test_a_regional_clinician_gets_every_export_as_fhir_json(self, scored):
        response = scored.get("/v1/cases/case-1/instruments/phq-a/responses/1/fhir", headers=token())
        assert response.status_code == 200 and response.mimetype == "application/fhir+json"
        resource = QuestionnaireResponse.model_validate(response.json)
        assert "9" in {i.linkId for i in resource.item}  # clinicians read the confidential answers
        scores = scored.get("/v1/cases/case-1/instruments/gad-7/observations/fhir", headers=token())
        bundle = Bundle.model_validate(scores.json)
        assert bundle.type == "searchset" and bundle.total == 2
        values = [(e.resource.code.coding[0].code, e.resource.valueQuantity.value) for e in bundle.entry]
        assert values == [("70274-6", 14), ("70274-6", 7)]

    @pytest.mark.parametrize(
        "path",
        [
            "/v1/cases/case-1/instruments/phq-a/responses/1/fhir",
            "/v1/cases/case-1/instruments/gad-7/observations/fhir",
        ],
    )
    def test_other_roles_are_refused_and_another_hospitals_clinician_is_told_nothing(self, scored, path):
        assert scored.get(path, headers=token("clinician", ("h-east",))).status_code == 200  # preferred
        assert scored.get(path, headers=token("clinician", ("h-north",))).status_code == 404
        for role in ("scheduler", "operator", "service"):
            assert scored.get(path, headers=token(role)).status_code == 403, role
        assert scored.get(path).status_code == 401

    def test_unknown_records_answer_404(self, scored):
        for path in [
            "/v1/cases/case-1/instruments/phq-a/responses/2/fhir",
            "/v1/cases/case-1/instruments/phq-a/responses/x/fhir",
            "/v1/cases/case-9/instruments/phq-a/responses/1/fhir",
            "/v1/cases/case-1/instruments/nope/observations/fhir",
            "/v1/cases/case-9/review/fhir",
        ]:
            assert scored.get(path, headers=token()).status_code == 404, path


class TestEscalationTask:
    def test_an_escalation_task_is_a_valid_task_through_its_route(self, handle, db, client):
        handle(submitted(risk_flags=["self_harm"]))
        [escalated] = outbox(db, "assessment.escalated")
        handle(Event.from_dict(escalated))
        stored = db.tasks.find_one({"case_id": "case-1"})
        exported = fhir.escalation_task({**stored, "state": "requested"})
        task = Task.model_validate(exported)
        assert (task.status, task.intent, task.priority) == ("requested", "order", "urgent")
        assert task.restriction.period.end is not None
        owner = stored["owner"]
        reply = client.get(f"/v1/tasks/{stored['_id']}", headers=token_for(owner))
        assert reply.status_code == 200, reply.json
        assert Task.model_validate(reply.get_json(force=True)).owner.reference == f"Practitioner/{owner}"
        done = Task.model_validate(
            fhir.escalation_task({**stored, "state": "completed", "outcome": "unable_to_reach"})
        )
        assert (
            done.status == "completed"
            and done.output[0].valueCodeableConcept.coding[0].code == "unable_to_reach"
        )


def token_for(subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {StaffTokens(SECRET).issue(subject, 'clinician', ('*',))}"}
