from __future__ import annotations

import json

import pytest

from shared import context
from shared.events import EnvelopeError, Event, event_type, from_kafka, short_name, to_kafka


def make_event(**overrides) -> Event:
    fields = {
        "type": event_type("referral.submitted"),
        "source": "/services/referral",
        "subject": "case-1",
        "data": {"age_band": "12-14"},
    }
    return Event(**{**fields, **overrides})


class TestTypeNames:
    def test_type_is_reverse_dns_with_major_version(self):
        assert event_type("referral.submitted") == "org.waymark.referral.submitted.v1"
        assert event_type("referral.submitted", 2) == "org.waymark.referral.submitted.v2"

    def test_short_name_drops_prefix_and_version(self):
        assert short_name("org.waymark.assessment.triaged.v3") == "assessment.triaged"


class TestKafkaBinding:
    def test_round_trip_keeps_every_attribute(self):
        event = make_event(correlation_id="corr-1")
        key, value, headers = to_kafka(event)
        assert key == b"case-1"
        assert json.loads(value) == {"age_band": "12-14"}
        assert dict(headers)["ce_type"] == b"org.waymark.referral.submitted.v1"
        assert from_kafka(value, headers) == event

    def test_correlation_id_defaults_to_the_bound_one(self):
        with context.bound("corr-42"):
            assert make_event().correlation_id == "corr-42"

    @pytest.mark.parametrize(
        ("value", "headers", "problem"),
        [
            (b"{}", [], "no ce_"),
            (b"not json", [("ce_id", b"1")], "not JSON"),
            (b"[1]", [("ce_specversion", b"1.0"), ("ce_id", b"1")], "JSON object"),
            (b"{}", [("ce_specversion", b"0.3")], "specversion"),
            (b"{}", [("ce_specversion", b"1.0"), ("ce_id", b"1")], "type"),
        ],
    )
    def test_malformed_records_are_envelope_errors(self, value, headers, problem):
        with pytest.raises(EnvelopeError, match=problem):
            from_kafka(value, headers)

    def test_dict_form_round_trips(self):
        event = make_event()
        assert Event.from_dict(event.to_dict()) == event
