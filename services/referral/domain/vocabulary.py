"""The documented codes schools choose from (docs/services/referral.md lists them).

Codes, not free text, travel on events: they are non-identifying and consumers can rely
on a closed set.
"""

from __future__ import annotations

# The codes that travel on referral events are defined once, by the published contract;
# re-exported here beside the codes that stay inside referral.
from shared.contracts.referral import CONSENT_SCOPES, RISK_FLAGS, WEEKDAYS  # noqa: F401

CONCERNS = (
    "anxiety",
    "low_mood",
    "somatic_complaints",
    "separation_worries",
    "social_fears",
    "bullying",
    "learning_difficulty",
    "family_conflict",
    "sleep",
    "screen_use",
    "other",
)
IMPAIRMENTS = ("sleep", "eating", "withdrawal")
SCHOOL_ACTIONS = (
    "reduced_timetable",
    "safe_space",
    "mentor",
    "counselling",
    "home_visits",
    "academic_support",
    "peer_support",
    "other",
)
RELATIONSHIPS = ("mother", "father", "grandparent", "legal_guardian", "foster_carer", "other")
SEXES = ("female", "male", "other", "not_stated")
WITHDRAW_REASONS = (
    "family_declined",
    "returned_to_school",
    "moved_away",
    "referred_elsewhere",
    "submitted_in_error",
    "other",
)
LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
"""A BCP 47 tag such as ``zh-CN`` or ``en``."""
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
"""Case, hospital, school and key ids: safe in URLs and in queries."""
