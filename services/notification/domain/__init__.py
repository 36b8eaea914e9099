"""Pure notification logic: which messages an event causes, to whom, and when.

Nothing here does I/O, so the rules (consent, quiet hours, reminder cadence, backoff)
are tested without a store, a clock or a network.
"""
