"""Pure referral logic: vocabularies, statuses and the timeline, event facts. No I/O here."""
