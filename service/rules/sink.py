"""Where live firings go: the incidents service, in the runner's transaction."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.incidents.models import Incident
from service.incidents.service import open_or_update_from_rule
from service.rules.model import Firing


def apply_firing(*, session: Session, firing: Firing, runbooks_dir: Path | None) -> bool:
    """Open an incident for `firing` or extend the active one; True if one was opened."""
    # Safe to look first: the runner holds its lease, and only rules set dedup keys.
    active = session.execute(
        select(Incident.number).where(Incident.active_dedup_key == firing.dedup_key)
    ).first()
    open_or_update_from_rule(
        session=session,
        rule_id=firing.rule_id,
        rule_hash=firing.rule_hash,
        title=firing.title,
        severity=str(firing.severity),
        tags=list(firing.tags),
        runbook_id=firing.runbook,
        group=dict(firing.group),
        dedup_key=firing.dedup_key,
        evidence_seqs=list(firing.evidence),
        first_seen=firing.first_seen,
        last_seen=firing.last_seen,
        runbooks_dir=runbooks_dir,
    )
    return active is None
