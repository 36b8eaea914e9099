"""Clinical safety hazards (docs/clinical-safety.md): each test reproduces a hazard and proves its control."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.assessment import catalogue
from services.assessment.casework import Casework
from services.assessment.config import AssessmentConfig
from services.assessment.domain import instruments as scoring
from services.assessment.domain.triage import ReferralFacts, triage
from services.assessment.measurement import Measurement
from services.assessment.repository import CaseRepository
from shared.contracts.registry import read
from shared.outbox import Outbox

from .conftest import amended, outbox, submitted

INSTRUMENTS = catalogue.load_instruments(AssessmentConfig())
RULES = catalogue.load_rules(AssessmentConfig())
AS_OF = date(2025, 3, 10)


@pytest.fixture
def casework(service) -> Casework:
    return service.handlers["referral.amended"].__self__


@pytest.fixture
def measurement(casework, db, settings, clock) -> Measurement:
    repo = CaseRepository(db, Outbox.for_settings(db, settings))
    return Measurement(repo, casework.rules, clock, INSTRUMENTS, frozenset())


def phq_a(**items: int | str) -> dict[str, int | str]:
    return {str(n): 0 for n in range(1, 10)} | {k.removeprefix("i"): v for k, v in items.items()}


def case(db) -> dict[str, Any]:
    return db.cases.find_one({"_id": "case-1"})


class TestHz01AmendmentsNeverUndoEscalations:
    def test_instrument_escalation_survives_a_days_missed_amendment(self, handle, db, measurement):
        handle(submitted())
        measurement.record("case-1", INSTRUMENTS["phq-a"], "child", phq_a(i9=2), "dr-li")
        assert case(db)["band"] == "P1"
        handle(amended(absence={"start": "2025-03-10", "days_missed_last_20": 3}))
        doc = case(db)
        assert doc["band"] == "P1"
        latest = doc["triage"][-1]
        assert latest["band"] == "P1" and latest["target_days"] == 7
        assert latest["held_for_safety"] == "P1"
        assert "phq_a_item9_positive" in latest["risk_reasons"]

    def test_removing_a_risk_flag_keeps_the_band_and_asks_for_review(self, handle, db):
        handle(submitted(risk_flags=["self_harm"]))
        assert case(db)["band"] == "P1"
        handle(amended(risk_flags=[]))
        doc = case(db)
        assert doc["band"] == "P1"
        assert doc["needs_review"] is True
        [review] = doc["reviews"]
        assert review["reason"] == "risk_flag_removed" and review["flags"] == ["self_harm"]
        triaged = outbox(db, "assessment.triaged")[-1]
        assert triaged["data"]["band"] == "P1"

    def test_only_a_clinician_override_lowers_a_safety_band(self, handle, db, casework):
        handle(submitted(risk_flags=["self_harm"]))
        handle(amended(risk_flags=[]))
        casework.override(
            "case-1", "P3", None, "reviewed with family: flag was entered in error", "dr-li", None
        )
        casework.cosign("case-1", "dr-wang", None, None)  # lowering an escalated case (HZ-11)
        assert case(db)["band"] == "P3"
        assert case(db)["needs_review"] is False
        handle(amended(risk_flags=[], return_attempts=1))
        assert case(db)["band"] == "P3"  # the clinician's decision stands; no floor above it

    def test_a_clinician_raise_is_a_floor_for_later_amendments(self, handle, db, casework):
        handle(submitted())
        casework.override("case-1", "P1", None, "known to CAMHS, deteriorating", "dr-li", None)
        handle(amended(risk_flags=["self_harm"]))  # new risk ends the override...
        handle(amended(risk_flags=[]))  # ...and removing it again never takes the case below P1
        assert case(db)["band"] == "P1"

    def test_amendment_without_safety_history_still_lowers_by_the_rules(self, handle, db):
        handle(submitted(absence={"start": "2025-01-13", "days_missed_last_20": 20}, exam_year=True))
        assert case(db)["band"] == "P2"
        handle(amended(absence={"start": "2025-03-10", "days_missed_last_20": 0}))
        assert case(db)["band"] == "P3"
        assert case(db).get("needs_review", False) is False

    def test_the_review_shows_in_the_queue_and_the_history(self, handle, client, clinician):
        handle(submitted(risk_flags=["self_harm"]))
        handle(amended(risk_flags=[]))
        [item] = client.get("/v1/triage/queue", headers=clinician).json["items"]
        assert item["needs_review"] is True and item["band"] == "P1"
        history = client.get("/v1/cases/case-1/triage", headers=clinician).json
        assert history["needs_review"] is True and history["reviews"][0]["flags"] == ["self_harm"]
        assert history["versions"][-1]["held_for_safety"] == "P1"


class TestHz05SeverityReachesTriage:
    @pytest.mark.parametrize("concern", ["low_mood", "anxiety", "family_conflict"])
    def test_mood_anxiety_and_family_concerns_score(self, concern):
        result = triage(ReferralFacts(referred_on=AS_OF, concerns=frozenset({concern})), RULES, AS_OF)
        assert result.score > 0

    def test_severe_depression_and_anxiety_leave_routine_care(self):
        bands = {"phq-a:total": "severe", "gad-7:total": "severe"}
        result = triage(ReferralFacts(referred_on=AS_OF, instrument_bands=bands), RULES, AS_OF)
        assert result.band != "P3"
        explained = {f.code: f.value for f in result.factors}
        assert explained == {"depression_severity": "severe", "anxiety_severity": "severe"}

    def test_scoring_an_instrument_re_triages_the_case(self, handle, db, measurement):
        handle(submitted(concerns=["low_mood", "anxiety", "family_conflict"]))
        measurement.record(
            "case-1", INSTRUMENTS["phq-a"], "child", phq_a(**{f"i{n}": 3 for n in range(1, 9)}), "x"
        )
        measurement.record("case-1", INSTRUMENTS["gad-7"], "child", {str(n): 3 for n in range(1, 8)}, "x")
        doc = case(db)
        assert doc["band"] != "P3"
        latest = doc["triage"][-1]
        assert latest["trigger"] == "instrument:gad-7#1" and latest["reason"] == "instrument scored"
        assert {"depression_severity", "anxiety_severity"} <= {f["code"] for f in latest["factors"]}
        assert outbox(db, "assessment.triaged")[-1]["data"]["band"] == doc["band"]
        assert outbox(db, "assessment.escalated") == []  # severity re-triages; it is not a risk flag

    def test_an_amendment_keeps_the_severity_factors(self, handle, db, measurement):
        handle(submitted())
        measurement.record(
            "case-1", INSTRUMENTS["phq-a"], "child", phq_a(**{f"i{n}": 3 for n in range(1, 9)}), "x"
        )
        handle(amended(return_attempts=1))
        assert "depression_severity" in {f["code"] for f in case(db)["triage"][-1]["factors"]}


class TestHz08DeclinedPhqAItem9:
    def test_declined_item_9_is_accepted_and_recorded_as_declined(self):
        phq = INSTRUMENTS["phq-a"]
        responses = scoring.normalise(phq, phq_a(i9="declined"))
        assert scoring.validate(phq, responses, "child") == {}
        result = scoring.score(phq, responses, "child")
        assert result.declined == ["9"]
        assert result.escalate == ["phq_a_item9_declined"]
        assert result.scores["total"] == 0  # the declined answer adds nothing; it is not a zero either

    def test_score_never_treats_a_missing_item_9_as_negative(self):
        first_eight = {str(n): 0 for n in range(1, 9)}
        result = scoring.score(INSTRUMENTS["phq-a"], first_eight, "child")
        assert "phq_a_item9_declined" in result.escalate

    def test_declined_item_9_escalates_non_acutely_through_the_api(self, handle, client, clinician, db):
        handle(submitted())
        body = {"informant": "child", "responses": phq_a(i9="declined")}
        reply = client.post("/v1/cases/case-1/instruments/phq-a/responses", json=body, headers=clinician)
        assert reply.status_code == 201, reply.json
        assert reply.json["declined"] == ["9"]
        [escalated] = outbox(db, "assessment.escalated")
        assert escalated["data"]["reasons"] == ["phq_a_item9_declined"]
        assert escalated["data"]["contact_within_hours"] == 24
        assert escalated["data"]["action"] == "safety_follow_up"
        assert case(db)["band"] == "P1"


def asq(*values: int | str, item5: int | str | None = None) -> dict[str, int | str]:
    responses: dict[str, int | str] = {str(n): v for n, v in enumerate(values, 1)}
    return responses if item5 is None else responses | {"5": item5}


class TestHz03AsqProtocol:
    @pytest.mark.parametrize("value", [1, 2])
    def test_item_5_is_required_after_any_yes_or_decline(self, value):
        errors = scoring.validate(INSTRUMENTS["asq"], asq(0, 0, value, 0), "child")
        assert list(errors) == ["responses.5"]

    def test_item_5_may_be_left_out_after_four_noes(self):
        assert scoring.validate(INSTRUMENTS["asq"], asq(0, 0, 0, 0), "child") == {}

    def test_missing_item_5_is_a_422_naming_the_field(self, handle, client, clinician):
        handle(submitted())
        body = {"informant": "child", "responses": asq(1, 0, 0, 0)}
        reply = client.post("/v1/cases/case-1/instruments/asq/responses", json=body, headers=clinician)
        assert reply.status_code == 422
        assert "responses.5" in str(reply.json)

    @pytest.mark.parametrize("item5", [1, "declined"])
    def test_item_5_yes_or_declined_is_acute_whatever_items_1_to_4_say(self, item5):
        asq_ = INSTRUMENTS["asq"]
        responses = scoring.normalise(asq_, asq(0, 0, 0, 0, item5=item5))
        assert scoring.validate(asq_, responses, "child") == {}
        result = scoring.score(asq_, responses, "child")
        assert "asq_acute_positive" in result.escalate
        assert result.bands["positive_answers"] == "acute_positive"  # never "negative" beside acute

    def test_acute_positive_needs_contact_within_an_hour_and_emergency_evaluation(
        self, handle, client, clinician, db
    ):
        handle(submitted())
        body = {"informant": "child", "responses": asq(1, 0, 0, 0, item5=1)}
        assert (
            client.post(
                "/v1/cases/case-1/instruments/asq/responses", json=body, headers=clinician
            ).status_code
            == 201
        )
        [escalated] = outbox(db, "assessment.escalated")
        assert escalated["data"]["contact_within_hours"] == 1
        assert escalated["data"]["action"] == "emergency_evaluation_now"
        assert read("assessment.escalated", escalated["data"])["action"] == "emergency_evaluation_now"

    def test_non_acute_positive_needs_a_brief_safety_assessment_within_24_hours(
        self, handle, client, clinician, db
    ):
        handle(submitted())
        body = {"informant": "child", "responses": asq(1, 0, 0, 0, item5=0)}
        assert (
            client.post(
                "/v1/cases/case-1/instruments/asq/responses", json=body, headers=clinician
            ).status_code
            == 201
        )
        [escalated] = outbox(db, "assessment.escalated")
        assert escalated["data"]["reasons"] == ["asq_positive"]
        assert escalated["data"]["contact_within_hours"] == 24
        assert escalated["data"]["action"] == "brief_safety_assessment"


class TestHz06UnknownCodesNeedReview:
    def test_the_rule_table_knows_every_published_referral_code(self):
        from services.referral.domain import vocabulary

        assert set(vocabulary.RISK_FLAGS) <= RULES.vocabulary["risk_flags"]
        assert set(vocabulary.CONCERNS) <= RULES.vocabulary["concerns"]
        assert set(vocabulary.IMPAIRMENTS) <= RULES.vocabulary["impairments"]

    def test_an_unknown_risk_flag_escalates_and_asks_for_review(self, handle, db):
        handle(submitted(risk_flags=["werewolf_sightings"], concerns=["psychosis"]))
        doc = case(db)
        assert doc["band"] == "P1"
        assert doc["needs_review"] is True
        [review] = doc["reviews"]
        assert review == {
            "reason": "unrecognised_codes",
            "codes": ["concerns:psychosis", "risk_flags:werewolf_sightings"],
            "at": "2025-03-10T09:00:00Z",
            "triage_version": 1,
        }
        [escalated] = outbox(db, "assessment.escalated")
        assert escalated["data"]["reasons"] == ["unrecognised_risk_flag"]
        assert escalated["data"]["action"] == "clinician_review"

    def test_an_unknown_concern_is_never_silently_zero(self, handle, db):
        handle(submitted(concerns=["psychosis"]))
        doc = case(db)
        assert doc["needs_review"] is True
        assert doc["triage"][-1]["unrecognised_codes"] == ["concerns:psychosis"]

    def test_an_amendment_bringing_an_unknown_code_asks_for_review(self, handle, db):
        handle(submitted())
        handle(amended(impairments=["hallucinations"]))
        assert case(db)["needs_review"] is True


NEW_RISKS = {
    # code: (contact within hours, action) — HZ-07's escalation levels
    "recent_suicide_attempt": (1, "emergency_evaluation_now"),
    "harm_to_others": (4, "risk_assessment_today"),
    "safeguarding_disclosure": (4, "safeguarding_referral"),
    "psychotic_symptoms": (24, "urgent_psychiatric_assessment"),
    "substance_misuse": (24, "substance_use_assessment"),
    "not_eating_or_drinking": (4, "medical_assessment_today"),
}


class TestHz07WiderVocabulary:
    def test_referral_publishes_every_new_risk_code(self):
        from services.referral.domain import vocabulary
        from shared.contracts import referral as contract

        assert set(NEW_RISKS) <= set(vocabulary.RISK_FLAGS)
        assert set(NEW_RISKS) <= set(contract.RISK_FLAGS)

    @pytest.mark.parametrize(("code", "level"), sorted(NEW_RISKS.items()))
    def test_each_new_risk_code_escalates_at_its_level(self, handle, db, code, level):
        handle(submitted(risk_flags=[code]))
        doc = case(db)
        assert doc["band"] == "P1" and not doc.get("needs_review")
        [escalated] = outbox(db, "assessment.escalated")
        assert escalated["data"]["reasons"] == [code]
        assert (escalated["data"]["contact_within_hours"], escalated["data"]["action"]) == level
        assert f"risk_{code}" in {f["code"] for f in doc["triage"][-1]["factors"]}


class TestHz12LifetimeAttemptEscalatesOnce:
    def test_a_lifetime_attempt_escalates_once_per_case(self, handle, db, measurement):
        handle(submitted())
        for _ in range(3):
            measurement.record("case-1", INSTRUMENTS["phq-a"], "child", phq_a(i13=1), "dr-li")
        assert [e["data"]["reasons"] for e in outbox(db, "assessment.escalated")] == [
            ["phq_a_lifetime_attempt"]
        ]
        administrations = case(db)["administrations"]
        assert all("phq_a_lifetime_attempt" in a["flags"] for a in administrations)  # still recorded

    def test_a_past_month_answer_escalates_again(self, handle, db, measurement):
        handle(submitted())
        measurement.record("case-1", INSTRUMENTS["phq-a"], "child", phq_a(i13=1), "dr-li")
        measurement.record("case-1", INSTRUMENTS["phq-a"], "child", phq_a(i12=1, i13=1), "dr-li")
        reasons = [e["data"]["reasons"] for e in outbox(db, "assessment.escalated")]
        assert reasons == [
            ["phq_a_lifetime_attempt"],
            ["phq_a_recent_suicidal_thoughts", "phq_a_lifetime_attempt"],
        ]

    def test_a_new_item_9_answer_escalates_again(self, handle, db, measurement):
        handle(submitted())
        measurement.record("case-1", INSTRUMENTS["phq-a"], "child", phq_a(i13=1), "dr-li")
        measurement.record("case-1", INSTRUMENTS["phq-a"], "child", phq_a(i9=1, i13=1), "dr-li")
        assert len(outbox(db, "assessment.escalated")) == 2

    def test_a_known_unknown_code_is_not_reviewed_again_on_every_amendment(self, handle, db, casework):
        handle(submitted(concerns=["psychosis"]))
        casework.override("case-1", "P3", None, "reviewed: the school meant low mood", "dr-li", None)
        handle(amended(concerns=["psychosis"], return_attempts=1))
        doc = case(db)
        assert doc["needs_review"] is False and len(doc["reviews"]) == 1


def staff(who: str) -> dict[str, str]:
    from shared.auth import StaffTokens

    from .conftest import SECRET

    return {"Authorization": f"Bearer {StaffTokens(SECRET).issue(who, 'clinician')}"}


REASON = "Seen with family today: safety plan in place, no current intent, CAMHS follow-up booked"


class TestHz11QueueOrderAndCosignedLowering:
    def test_escalated_cases_come_first_whatever_their_band(self, handle, casework, client):
        handle(submitted("c-raised"))
        casework.override("c-raised", "P1", 90, "sibling crisis at home; needs to be seen now", "dr-li", None)
        handle(submitted("c-escalated", risk_flags=["self_harm"]))
        casework.override("c-escalated", "P2", 10, REASON, "dr-li", None)
        casework.cosign("c-escalated", "dr-wang", None, None)
        items = client.get("/v1/triage/queue", headers=staff("dr-li")).json["items"]
        assert [(i["case_id"], i["band"], i["escalated"]) for i in items] == [
            ("c-escalated", "P2", True),
            ("c-raised", "P1", False),
        ]

    def test_lowering_an_escalated_case_waits_for_a_second_clinician(self, handle, db, client):
        handle(submitted(risk_flags=["self_harm"]))
        url = "/v1/cases/case-1/triage/override"
        reply = client.post(url, json={"band": "P3", "reason": REASON}, headers=staff("dr-li"))
        assert reply.status_code == 202
        assert (reply.json["state"], reply.json["by"]) == ("awaiting_cosignature", "dr-li")
        assert case(db)["band"] == "P1"  # not yet in effect
        own = client.post(url + "/cosign", json={}, headers=staff("dr-li"))
        assert own.status_code == 409  # the requester cannot co-sign
        assert case(db)["band"] == "P1"
        signed = client.post(url + "/cosign", json={"note": "agreed after review"}, headers=staff("dr-wang"))
        assert signed.status_code == 201
        assert (signed.json["band"], signed.json["by"], signed.json["cosigned_by"]) == (
            "P3",
            "dr-li",
            "dr-wang",
        )
        assert case(db)["band"] == "P3"
        history = client.get("/v1/cases/case-1/triage", headers=staff("dr-li")).json
        assert [(a["kind"], a["by"]) for a in history["override_audit"]] == [
            ("override_requested", "dr-li"),
            ("override_cosigned", "dr-wang"),
        ]
        assert history["versions"][-1]["reason"] == REASON
        assert history["pending_override"] is None

    @pytest.mark.parametrize(
        "reason", ["ok, fine now", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "n/a n/a n/a n/a n/a"]
    )
    def test_a_thin_reason_is_refused_naming_the_field(self, handle, db, client, reason):
        handle(submitted(risk_flags=["self_harm"]))
        body = {"band": "P3", "reason": reason}
        reply = client.post("/v1/cases/case-1/triage/override", json=body, headers=staff("dr-li"))
        assert reply.status_code == 422
        assert "reason" in reply.json["error"]["fields"]
        assert case(db).get("pending_override") is None

    def test_a_chinese_reason_of_real_length_is_accepted(self, handle, client):
        handle(submitted(risk_flags=["self_harm"]))
        body = {"band": "P2", "reason": "今日与家长面谈，已制定安全计划，目前无自伤意图，已预约门诊随访。"}
        reply = client.post("/v1/cases/case-1/triage/override", json=body, headers=staff("dr-li"))
        assert reply.status_code == 202

    def test_a_triage_change_voids_the_pending_override(self, handle, db, client):
        handle(submitted(risk_flags=["self_harm"]))
        url = "/v1/cases/case-1/triage/override"
        client.post(url, json={"band": "P3", "reason": REASON}, headers=staff("dr-li"))
        handle(amended(risk_flags=["self_harm", "not_eating"]))
        signed = client.post(url + "/cosign", json={}, headers=staff("dr-wang"))
        assert signed.status_code == 409 and signed.json["error"]["code"] == "stale_version"
        assert case(db)["band"] == "P1"

    def test_raising_or_lowering_a_routine_case_needs_no_cosignature(self, handle, casework, db):
        handle(submitted())
        casework.override("case-1", "P1", None, "known to CAMHS", "dr-li", None)
        casework.override("case-1", "P3", None, "reviewed again", "dr-li", None)
        assert case(db)["band"] == "P3"
