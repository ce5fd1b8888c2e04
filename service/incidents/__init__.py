"""Incidents: lifecycle, triage, evidence and a tamper-evident chain of custody.

Entry point for the correlation engine (keyword-only; joins the caller's transaction,
never commits)::

    from service.incidents.service import open_or_update_from_rule

    incident = open_or_update_from_rule(
        session=session,              # the worker's unit of work
        rule_id="...", rule_hash="...",
        title="...", severity="high", tags=["atlas.aml.t0024"],
        runbook_id="model-exfiltration" | None,   # the rule's custom.runbook
        group={"actor.id": "alice"},  # group-by values
        dedup_key="<sha256>",         # Firing.dedup_key (rule + group values)
        evidence_seqs=[41, 42],       # log seqs that made the rule fire
        first_seen=datetime, last_seen=datetime,
        runbooks_dir=None,            # optional; defaults to Settings().runbooks_dir
    ) -> Incident

It opens `INC-N` (gapless number from a counter row locked in the transaction), or,
while an incident with the same dedup key is active (not resolved, closed,
false_positive or duplicate), adds the new evidence seqs, bumps `event_count` and
widens first/last seen. Replaying the same firing changes nothing. Two workers racing
on one firing serialize on the counter row, and a unique index on
`incidents.active_dedup_key` guards the invariant in the database itself.
"""
