"""Where live firings go: the incidents service, in the runner's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.orm import Session

from service.incidents.bulk import RuleFiring, open_or_update_many
from service.rules.model import Firing


def apply_firings(
    *, session: Session, firings: Sequence[Firing], runbooks_dir: Path | None
) -> list[bool]:
    """Open incidents for `firings` (distinct dedup keys) or extend the active ones;
    True where one was opened. Safe to look first: the runner holds its lease, and only
    rules set dedup keys."""
    return open_or_update_many(
        session=session,
        firings=[
            RuleFiring(
                rule_id=f.rule_id,
                rule_hash=f.rule_hash,
                title=f.title,
                severity=str(f.severity),
                tags=tuple(f.tags),
                runbook_id=f.runbook,
                group=dict(f.group),
                dedup_key=f.dedup_key,
                evidence_seqs=tuple(f.evidence),
                first_seen=f.first_seen,
                last_seen=f.last_seen,
            )
            for f in firings
        ],
        runbooks_dir=runbooks_dir,
    )
