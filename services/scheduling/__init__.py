"""Scheduling: the shared regional waitlist.

Owns hospitals (districts, clinic types, languages), weekly clinic sessions and
holidays, the slots they produce, waitlist entries (band, targets, family
constraints), offers with hold windows, appointments (booking, rescheduling,
cancellation, attendance, follow-up series), network rebalancing and
waiting-list pressure. Consumes assessment.triaged / escalated,
referral.withdrawn and followup.relapse_detected; publishes waitlist.* and
appointment.* on ``waymark.scheduling.events``. See docs/services/scheduling.md.
"""
