"""The assessment service: triage, escalation, clinical measurement and return-plan follow-up.

It owns, per case, the triage history (every version with its factors, points, rule
version and, for overrides, who/when/why), the escalations raised for risk, the
administrations of standardised instruments with their scores, and the graded-return
plan with the attendance reported against it. It learns about cases only from referral
events and publishes assessment.*, returnplan.updated and followup.relapse_detected.
"""
