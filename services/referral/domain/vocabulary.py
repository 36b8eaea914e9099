"""The documented codes schools choose from (docs/services/referral.md lists them).

Codes, not free text, travel on events: they are non-identifying and consumers can rely
on a closed set.
"""

from __future__ import annotations

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
RISK_FLAGS = (
    "self_harm",
    "suicidal_talk",
    "not_eating",
    "recent_suicide_attempt",
    "harm_to_others",
    "safeguarding_disclosure",
    "psychotic_symptoms",
    "substance_misuse",
    "not_eating_or_drinking",
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
CONSENT_SCOPES = (
    "referral",
    "share_with_hospitals",
    "contact_by_sms",
    "contact_by_email",
    "questionnaires",
    "school_liaison",
)
SEXES = ("female", "male", "other", "not_stated")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
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
