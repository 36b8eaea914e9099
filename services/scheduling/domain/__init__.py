"""Pure scheduling logic: calendars, matching, costs, the optimiser and pressure. No I/O here."""
