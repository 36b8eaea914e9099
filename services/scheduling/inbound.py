"""Tolerant readers (``unknown=EXCLUDE``) of the events scheduling consumes, per docs/events.md."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate


class Tolerant(Schema):
    class Meta:
        unknown = EXCLUDE


class ConstraintsIn(Tolerant):
    hospitals = fields.List(fields.String(), load_default=list, allow_none=True)
    max_travel_km = fields.Float(load_default=None, allow_none=True)
    home_district = fields.String(load_default=None, allow_none=True)
    weekdays = fields.List(fields.String(), load_default=list, allow_none=True)
    language = fields.String(load_default=None, allow_none=True)


class TriagedIn(Tolerant):
    case_id = fields.String(required=True)
    triage_version = fields.Integer(load_default=1)
    band = fields.String(required=True, validate=validate.OneOf(["P1", "P2", "P3"]))
    score = fields.Float(load_default=0.0)
    target_days = fields.Integer(required=True, validate=validate.Range(min=0, max=730))
    referred_on = fields.Date(required=True)
    clinic_type = fields.String(load_default="school_refusal")
    constraints = fields.Nested(ConstraintsIn, load_default=dict)


class EscalatedIn(Tolerant):
    case_id = fields.String(required=True)
    reasons = fields.List(fields.String(), load_default=list)
    contact_deadline = fields.AwareDateTime(required=True, default_timezone=None)
    contact_within_hours = fields.Integer(load_default=None, allow_none=True)
    hospitals = fields.List(fields.String(), load_default=list)


class WithdrawnIn(Tolerant):
    case_id = fields.String(required=True)
    reason = fields.String(load_default="withdrawn")


class ReviewDecidedIn(Tolerant):
    case_id = fields.String(required=True)
    outcome = fields.String(required=True)


class RelapseIn(Tolerant):
    case_id = fields.String(required=True)
    weeks_below = fields.List(fields.String(), load_default=list)
