"""Incidents: lifecycle, triage, evidence and a tamper-evident chain of custody.

Entry points: `flows.apply_firings(session=, firings=, policy=)` for the correlation
engine (opens `INC-N` or extends the active incident with the firing's dedup key; see
its docstring) and `flows.open_incident` for responders. Both join the caller's
transaction and never commit. Every change is a chained `incident.*` record
(`custody.record_change`), which also writes the notification outbox row.
"""
