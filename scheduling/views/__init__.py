"""Pages of scheduling: one module per topic (booking, windows and calendars, notices, the
cloud plan)."""
