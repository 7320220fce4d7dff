"""Storage-independent logic: a run's record, its `Timeline`, plateau rounds, the frontier
rule, the barrier and the in-memory cache of evaluated runs."""
