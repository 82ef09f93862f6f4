"""Small helpers every app shares: caps, resilience, rate limits, logging,
middleware and metric counters. Like healthchecks' hc/lib, it imports no app:
the apps depend on it, never the reverse."""
