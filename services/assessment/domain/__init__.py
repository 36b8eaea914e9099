"""Pure assessment logic: triage rules, instrument scoring, relapse detection. No I/O here."""
