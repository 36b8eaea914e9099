"""Instrument scoring against hand-computed examples, validation, and the shipped data files."""

from __future__ import annotations

import pytest

from services.assessment import catalogue
from services.assessment.config import AssessmentConfig
from services.assessment.domain import instruments as scoring
from services.assessment.domain.instrument_format import InstrumentError, parse_instrument

INSTRUMENTS = catalogue.load_instruments(AssessmentConfig())


def answers(values: list[int], start: int = 1) -> dict[str, int]:
    return {str(n): v for n, v in enumerate(values, start)}


def summing_to(total: int, items: int) -> list[int]:
    """Responses (0-3) over ``items`` items adding up to ``total``, highest first."""
    values = []
    for _ in range(items):
        values.append(min(3, total))
        total -= values[-1]
    assert total == 0
    return values


def score(instrument_id: str, responses: dict[str, int], informant: str = "child", **kw):
    instrument = INSTRUMENTS[instrument_id]
    assert scoring.validate(instrument, responses, informant) == {}
    return scoring.score(instrument, responses, informant, **kw)


class TestShippedFiles:
    def test_all_six_instruments_load(self):
        assert sorted(INSTRUMENTS) == ["asq", "gad-7", "phq-a", "rcads-47", "sdq", "sras-r"]

    @pytest.mark.parametrize("instrument_id", ["phq-a", "gad-7", "asq"])
    def test_public_domain_ones_ship_in_full(self, instrument_id):
        instrument = INSTRUMENTS[instrument_id]
        assert not instrument.requires_licence
        assert all(item.text for item in instrument.items)

    @pytest.mark.parametrize(("instrument_id", "items"), [("sras-r", 24), ("rcads-47", 47), ("sdq", 25)])
    def test_licensed_ones_ship_structure_without_text(self, instrument_id, items):
        instrument = INSTRUMENTS[instrument_id]
        assert instrument.requires_licence
        assert len(instrument.items) == items
        assert all(item.text is None for item in instrument.items)
        assert instrument.stem is None

    def test_a_subscale_naming_a_missing_item_is_refused(self):
        doc = {
            "id": "bad",
            "version": "1",
            "name": "Bad",
            "informants": ["child"],
            "licence": {"requires_licence": True},
            "scales": {"s": [{"value": 0, "label": "no"}]},
            "items": [{"id": "1", "scale": "s"}],
            "subscales": [{"code": "total", "items": ["1", "2"]}],
        }
        with pytest.raises(InstrumentError, match="unknown item 2"):
            parse_instrument(doc)


class TestPhqA:
    def test_hand_computed_total(self):
        result = score("phq-a", answers([1, 2, 0, 3, 1, 2, 1, 0, 0]))
        assert result.scores == {"total": 10}
        assert result.bands == {"total": "moderate"}
        assert result.flags == [] and result.escalate == []

    @pytest.mark.parametrize(
        ("total", "band"),
        [
            (0, "minimal"),
            (4, "minimal"),
            (5, "mild"),
            (9, "mild"),
            (10, "moderate"),
            (14, "moderate"),
            (15, "moderately_severe"),
            (19, "moderately_severe"),
            (20, "severe"),
            (24, "severe"),
        ],
    )
    def test_severity_band_edges(self, total, band):
        result = score("phq-a", answers([*summing_to(total, 8), 0]))
        assert result.scores["total"] == total
        assert result.bands["total"] == band

    def test_maximum_is_27_and_severe(self):
        result = score("phq-a", answers([3] * 9))
        assert (result.scores["total"], result.bands["total"]) == (27, "severe")

    @pytest.mark.parametrize(("item9", "escalates"), [(0, False), (1, True), (2, True), (3, True)])
    def test_item_9_positive_escalates(self, item9, escalates):
        result = score("phq-a", answers([0] * 8 + [item9]))
        assert ("phq_a_item9_positive" in result.escalate) is escalates

    def test_suicide_items_12_and_13_escalate_but_do_not_add_to_the_total(self):
        responses = {**answers([0] * 9), "10": 1, "11": 3, "12": 1, "13": 1}
        result = score("phq-a", responses)
        assert result.scores["total"] == 0
        assert result.escalate == ["phq_a_recent_suicidal_thoughts", "phq_a_lifetime_attempt"]

    def test_total_above_10_flags_probable_depression_without_escalating(self):
        result = score("phq-a", answers([3, 3, 3, 2, 0, 0, 0, 0, 0]))
        assert result.flags == ["phq_a_probable_depression"]
        assert result.escalate == []


class TestGad7:
    def test_hand_computed_total(self):
        result = score("gad-7", answers([1, 1, 2, 0, 3, 2, 1]))
        assert result.scores == {"total": 10}
        assert result.bands == {"total": "moderate"}
        assert result.flags == ["gad7_further_evaluation"]
        assert result.escalate == []

    @pytest.mark.parametrize(
        ("total", "band"),
        [
            (0, "minimal"),
            (4, "minimal"),
            (5, "mild"),
            (9, "mild"),
            (10, "moderate"),
            (14, "moderate"),
            (15, "severe"),
            (21, "severe"),
        ],
    )
    def test_severity_band_edges(self, total, band):
        result = score("gad-7", answers(summing_to(total, 7)))
        assert result.bands["total"] == band
        assert ("gad7_further_evaluation" in result.flags) is (total >= 10)


class TestAsq:
    def test_all_no_is_negative(self):
        result = score("asq", answers([0, 0, 0, 0]))
        assert result.bands["positive_answers"] == "negative"
        assert result.escalate == []

    @pytest.mark.parametrize("item", ["1", "2", "3", "4"])
    @pytest.mark.parametrize("value", [1, 2])  # yes, or declined to answer
    def test_yes_or_declining_any_of_1_to_4_is_positive(self, item, value):
        result = score("asq", {**answers([0, 0, 0, 0]), item: value, "5": 0})  # item 5 now required
        assert result.scores["positive_answers"] == 1
        assert result.bands["positive_answers"] == "positive"
        assert result.escalate == ["asq_positive"]

    def test_yes_to_item_5_is_acute(self):
        result = score("asq", {**answers([1, 0, 0, 0]), "5": 1})
        assert result.escalate == ["asq_positive", "asq_acute_positive"]
        assert result.scores["acute"] == 1


class TestSrasR:
    # function 1 = items 1,5,...,21; function 2 = items 2,6,...; etc. (stride 4)
    @staticmethod
    def responses(f1, f2, f3, f4) -> dict[str, int]:
        out = {}
        for k in range(6):
            for offset, values in enumerate((f1, f2, f3, f4), 1):
                out[str(4 * k + offset)] = values[k]
        return out

    def test_function_means(self):
        r = self.responses([6, 5, 4, 6, 5, 4], [1, 2, 3, 1, 2, 3], [0] * 6, [3, 3, 3, 3, 3, 4])
        result = score("sras-r", r)
        assert result.scores == {
            "negative_affect": 5.0,
            "escape_evaluative": 2.0,
            "attention": 0.0,
            "tangible": 3.17,
        }
        assert result.bands["profile"] == "negative_affect"

    def test_functions_within_the_tie_margin_are_a_mixed_profile(self):
        r = self.responses([3, 3, 3, 3, 3, 4], [0] * 6, [0] * 6, [3] * 6)  # 3.17 vs 3.0
        assert score("sras-r", r).bands["profile"] == "mixed"
        assert score("sras-r", r, tie_margin=0.1).bands["profile"] == "negative_affect"

    def test_child_and_parent_means_are_averaged(self):
        child = {"negative_affect": 5.0, "escape_evaluative": 2.0, "attention": 0.0, "tangible": 3.0}
        parent = {"negative_affect": 3.0, "escape_evaluative": 4.0, "attention": 1.0, "tangible": 2.0}
        scales = INSTRUMENTS["sras-r"].profile.scales
        combined = scoring.combine([child, parent], scales)
        assert combined == {
            "negative_affect": 4.0,
            "escape_evaluative": 3.0,
            "attention": 0.5,
            "tangible": 2.5,
        }
        assert scoring.primary(combined, scales, 0.25) == "negative_affect"


class TestRcadsAndSdq:
    def test_rcads_subscale_sums(self):
        result = score("rcads-47", answers([1] * 47))
        assert result.scores == {
            "separation_anxiety": 7,
            "social_phobia": 9,
            "generalized_anxiety": 6,
            "panic": 9,
            "obsessive_compulsive": 6,
            "major_depression": 10,
            "total_anxiety": 37,
            "total_internalizing": 47,
        }

    def test_sdq_reverse_scored_items(self):
        result = score("sdq", answers([0] * 25), informant="parent")
        assert result.scores == {
            "emotional": 0,
            "conduct": 2,
            "hyperactivity": 4,
            "peer": 4,
            "prosocial": 0,
            "total_difficulties": 10,
        }
        assert result.bands["total_difficulties"] == "normal"

    def test_sdq_total_difficulties_band_for_parents_only(self):
        all_two = answers([2] * 25)
        parent = score("sdq", all_two, informant="parent")
        assert parent.scores["total_difficulties"] == 30
        assert parent.bands["total_difficulties"] == "abnormal"
        assert "total_difficulties" not in score("sdq", all_two, informant="teacher").bands


class TestValidation:
    def test_missing_unknown_and_out_of_scale_answers_are_named(self):
        responses = {**answers([0] * 8), "9": 4, "99": 1}
        del responses["3"]
        errors = scoring.validate(INSTRUMENTS["phq-a"], responses, "parent")
        assert set(errors) == {"informant", "responses.3", "responses.9", "responses.99"}

    def test_optional_items_may_be_left_out(self):
        assert scoring.validate(INSTRUMENTS["asq"], answers([0, 0, 0, 0]), "child") == {}
