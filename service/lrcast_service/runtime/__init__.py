"""This process's live state: the cached views of runs and the barrier's waiters
(`live`), the range tests' analyses (`range_tests`), replication between replicas
(`replication`)."""
