"""The clinician API: auth, queue order and filter, history, override audit, instruments, return plan."""

from __future__ import annotations

import pytest

from shared.auth import StaffTokens
from shared.contracts.registry import read

from .conftest import SECRET, outbox, submitted


@pytest.fixture
def cases(handle):
    handle(submitted("c-routine", referred_on="2025-03-01"))
    handle(submitted("c-risk", referred_on="2025-03-05", risk_flags=["self_harm"]))
    handle(
        submitted(
            "c-soon-old",
            referred_on="2025-02-01",
            exam_year=True,
            return_attempts=3,
            impairments=["sleep", "eating"],
        )
    )
    handle(
        submitted(
            "c-soon-new",
            referred_on="2025-03-02",
            exam_year=True,
            return_attempts=3,
            impairments=["sleep", "eating"],
        )
    )
    handle(
        submitted(
            "c-soon-high",
            referred_on="2025-03-09",
            exam_year=True,
            return_attempts=3,
            impairments=["sleep", "eating", "withdrawal"],
        )
    )


class TestAuth:
    def test_no_token_is_401(self, client):
        response = client.get("/v1/triage/queue")
        assert response.status_code == 401
        assert response.json["error"]["code"] == "unauthorized"

    def test_scheduler_is_403(self, client):
        token = StaffTokens(SECRET).issue("s1", "scheduler")
        assert client.get("/v1/triage/queue", headers={"Authorization": f"Bearer {token}"}).status_code == 403


class TestQueue:
    def test_sorted_by_band_then_score_then_referral_date(self, client, clinician, cases):
        body = client.get("/v1/triage/queue", headers=clinician).json
        assert [i["case_id"] for i in body["items"]] == [
            "c-risk",
            "c-soon-high",
            "c-soon-old",
            "c-soon-new",
            "c-routine",
        ]
        assert body["total"] == 5
        risk = body["items"][0]
        assert (risk["band"], risk["target_days"], risk["target_date"], risk["escalated"]) == (
            "P1",
            7,
            "2025-03-12",
            True,
        )

    def test_filter_by_band_and_page(self, client, clinician, cases):
        body = client.get("/v1/triage/queue?band=P2&limit=1&offset=1", headers=clinician).json
        assert [i["case_id"] for i in body["items"]] == ["c-soon-old"]
        assert body["total"] == 3

    def test_bad_band_names_the_field(self, client, clinician):
        response = client.get("/v1/triage/queue?band=P7", headers=clinician)
        assert response.status_code == 422
        assert "band" in response.json["error"]["fields"]


class TestHistoryAndOverride:
    def test_history_shows_factors_points_and_rule_version(self, client, clinician, cases):
        body = client.get("/v1/cases/c-soon-old/triage", headers=clinician).json
        [first] = body["versions"]
        assert {f["code"]: f["points"] for f in first["factors"]} == {
            "exam_year": 6, "failed_return_attempts": 12, "impairment_sleep": 6, "impairment_eating": 6
        }  # fmt: skip
        assert (first["score"], first["band"]) == (30, "P2")
        assert first["rule_version"].startswith("waymark-sr-2025.2+")
        assert (first["by"], first["trigger"]) == ("system", "referral.submitted")

    def test_unknown_case_is_404(self, client, clinician):
        assert client.get("/v1/cases/nope/triage", headers=clinician).status_code == 404

    def test_override_is_a_new_audited_version_and_event(self, client, clinician, cases, db):
        body = {"band": "P1", "reason": "Sibling crisis at home; needs to be seen now", "expected_version": 1}
        response = client.post("/v1/cases/c-routine/triage/override", json=body, headers=clinician)
        assert response.status_code == 201
        version = response.json
        assert (version["version"], version["band"], version["overridden"], version["by"]) == (
            2,
            "P1",
            True,
            "dr-li",
        )
        assert version["reason"] == body["reason"] and version["at"] == "2025-03-10T09:00:00Z"
        triaged = [read("assessment.triaged", e["data"]) for e in outbox(db, "assessment.triaged")]
        latest = [t for t in triaged if t["case_id"] == "c-routine"][-1]
        assert (latest["triage_version"], latest["band"], latest["overridden"], latest["target_days"]) == (
            2,
            "P1",
            True,
            7,
        )
        queue = client.get("/v1/triage/queue?band=P1", headers=clinician).json
        assert "c-routine" in [i["case_id"] for i in queue["items"]]

    @pytest.mark.parametrize(
        ("body", "field"),
        [({"band": "P1"}, "reason"), ({"band": "P1", "reason": "no"}, "reason"), ({"reason": "because I say"}, "band"),
         ({"band": "P1", "reason": "valid reason", "score": 101}, "score")],
    )  # fmt: skip
    def test_override_needs_a_band_and_a_reason(self, client, clinician, cases, body, field):
        response = client.post("/v1/cases/c-routine/triage/override", json=body, headers=clinician)
        assert response.status_code == 422
        assert field in response.json["error"]["fields"]

    def test_override_of_a_stale_version_is_409_and_writes_nothing(self, client, clinician, cases, db):
        before = db.case_changes.count_documents({})
        body = {"band": "P3", "reason": "reviewed the old triage", "expected_version": 9}
        response = client.post("/v1/cases/c-risk/triage/override", json=body, headers=clinician)
        assert response.status_code == 409 and response.json["error"]["code"] == "stale_version"
        assert db.case_changes.count_documents({}) == before

    def test_override_of_a_withdrawn_case_is_409(self, client, clinician, cases, handle):
        from .conftest import event

        handle(
            event("referral.withdrawn", "c-routine", {"case_id": "c-routine", "reason": "family_declined"})
        )
        response = client.post(
            "/v1/cases/c-routine/triage/override",
            json={"band": "P1", "reason": "too late"},
            headers=clinician,
        )
        assert response.status_code == 409


class TestInstruments:
    def test_catalogue_lists_licence_state(self, client, clinician):
        items = {i["id"]: i for i in client.get("/v1/instruments", headers=clinician).json["items"]}
        assert items["phq-a"]["licensed"] is True and items["sdq"]["text_withheld"] is True

    def test_licensed_text_is_withheld_without_a_licence(self, client, clinician):
        body = client.get("/v1/instruments/sras-r", headers=clinician).json
        assert body["text_withheld"] is True
        assert all(item["text"] is None for item in body["items"]) and len(body["items"]) == 24
        assert body["scoring"][0] == {
            "code": "negative_affect",
            "items": ["1", "5", "9", "13", "17", "21"],
            "method": "mean",
        }

    def test_free_text_is_shown(self, client, clinician):
        body = client.get("/v1/instruments/phq-a", headers=clinician).json
        assert body["items"][8]["text"].startswith("Thoughts that you would be better off dead")

    def test_licensed_text_comes_from_the_licensee_dir(self, settings, db, clock, tmp_path, clinician):
        from services.assessment.bootstrap import build

        (tmp_path / "sras-r.json").write_text('{"stem": "S", "items": {"1": "licensed item one"}}')
        extra = {"ASSESSMENT_LICENSED_INSTRUMENTS": "sras-r", "ASSESSMENT_INSTRUMENT_TEXT_DIR": str(tmp_path)}
        client = build(settings.but(extra=extra), db=db, clock=clock).app.test_client()
        body = client.get("/v1/instruments/sras-r", headers=clinician).json
        assert (body["text_withheld"], body["stem"], body["items"][0]["text"]) == (
            False,
            "S",
            "licensed item one",
        )

    def test_unknown_instrument_is_404(self, client, clinician):
        assert client.get("/v1/instruments/beck", headers=clinician).status_code == 404

    def test_responses_are_scored_and_published(self, client, clinician, cases, db):
        responses = {str(n): v for n, v in enumerate([1, 1, 2, 0, 3, 2, 1], 1)}
        url = "/v1/cases/c-routine/instruments/gad-7/responses"
        response = client.post(url, json={"informant": "child", "responses": responses}, headers=clinician)
        assert response.status_code == 201
        assert response.json["scores"] == {"total": 10} and response.json["n"] == 1
        [completed] = outbox(db, "assessment.completed")
        data = read("assessment.completed", completed["data"])
        assert (data["instrument"], data["administration"], data["scores"], data["flags"]) == (
            "gad-7", 1, {"total": 10.0}, ["gad7_further_evaluation"]
        )  # fmt: skip
        assert {e["subject"] for e in outbox(db, "assessment.escalated")} == {
            "c-risk"
        }  # GAD-7 never escalates

    def test_phq_a_item_9_escalates_and_lifts_the_case_to_p1(self, client, clinician, cases, db):
        responses = {str(n): 0 for n in range(1, 10)} | {"9": 1}
        url = "/v1/cases/c-routine/instruments/phq-a/responses"
        assert (
            client.post(
                url, json={"informant": "child", "responses": responses}, headers=clinician
            ).status_code
            == 201
        )
        [escalated] = [e for e in outbox(db, "assessment.escalated") if e["subject"] == "c-routine"]
        assert escalated["data"]["reasons"] == ["phq_a_item9_positive"]
        assert escalated["data"]["contact_within_hours"] == 24
        history = client.get("/v1/cases/c-routine/triage", headers=clinician).json
        assert history["versions"][-1]["band"] == "P1"
        assert history["versions"][-1]["trigger"] == "instrument:phq-a#1"

    def test_invalid_responses_name_the_item(self, client, clinician, cases, db):
        before = db.case_changes.count_documents({})
        url = "/v1/cases/c-routine/instruments/phq-a/responses"
        response = client.post(url, json={"informant": "child", "responses": {"1": 7}}, headers=clinician)
        assert response.status_code == 422
        assert {"responses.1", "responses.2", "responses.9"} <= set(response.json["error"]["fields"])
        assert db.case_changes.count_documents({}) == before

    def test_unlicensed_instrument_responses_are_refused(self, client, clinician, cases):
        url = "/v1/cases/c-routine/instruments/sdq/responses"
        response = client.post(url, json={"informant": "parent", "responses": {}}, headers=clinician)
        assert response.status_code == 403 and response.json["error"]["code"] == "licence_required"

    def test_trajectory_over_repeated_administrations(self, client, clinician, cases):
        url = "/v1/cases/c-routine/instruments/gad-7/responses"
        for values in ([3, 3, 2, 2, 2, 1, 1], [1, 1, 1, 1, 1, 0, 0]):
            responses = {str(n): v for n, v in enumerate(values, 1)}
            client.post(url, json={"informant": "child", "responses": responses}, headers=clinician)
        body = client.get("/v1/cases/c-routine/instruments/gad-7/trajectory", headers=clinician).json
        assert [(p["n"], p["scores"]["total"], p["bands"]["total"]) for p in body["points"]] == [
            (1, 14, "moderate"), (2, 5, "mild")
        ]  # fmt: skip
        assert body["change"] == {"child": {"total": -9}}


class TestReturnPlan:
    def test_plan_is_stored_and_published(self, client, clinician, cases, db):
        weeks = [
            {"week_start": "2025-03-17", "target_hours_per_day": 2},
            {"week_start": "2025-03-10", "target_hours_per_day": 1},
        ]
        response = client.post("/v1/cases/c-routine/return-plan", json={"weeks": weeks}, headers=clinician)
        assert response.status_code == 201 and response.json["version"] == 1
        [updated] = outbox(db, "returnplan.updated")
        assert updated["data"]["weeks"] == [
            {"week_start": "2025-03-10", "target_hours_per_day": 1.0},
            {"week_start": "2025-03-17", "target_hours_per_day": 2.0},
        ]
        view = client.get("/v1/cases/c-routine/return-plan", headers=clinician).json
        assert [w["status"] for w in view["progress"]] == ["no_report", "no_report"]

    @pytest.mark.parametrize(
        ("weeks", "field"),
        [([{"week_start": "2025-03-11", "target_hours_per_day": 1}], "weeks.0.week_start"),
         ([{"week_start": "2025-03-10", "target_hours_per_day": 11}], "weeks.0.target_hours_per_day"),
         ([], "weeks")],
    )  # fmt: skip
    def test_invalid_plan_names_the_field(self, client, clinician, cases, weeks, field):
        response = client.post("/v1/cases/c-routine/return-plan", json={"weeks": weeks}, headers=clinician)
        assert response.status_code == 422
        assert field in response.json["error"]["fields"]

    def test_plan_for_unknown_case_is_404(self, client, clinician):
        weeks = [{"week_start": "2025-03-10", "target_hours_per_day": 1}]
        assert (
            client.post("/v1/cases/nope/return-plan", json={"weeks": weeks}, headers=clinician).status_code
            == 404
        )
