"""The notification service: every outbound message of Waymark.

It turns other services' events into guardian emails and SMS, signed school webhooks
and on-call alerts; keeps appointment reminders durably; honours consent and quiet
hours; retries with backoff; and logs every delivery (dead letters replayable).
Guardian contacts are never stored here: they are fetched from the referral service
at send time (docs/services/notification.md).
"""
