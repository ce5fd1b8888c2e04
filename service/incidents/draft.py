"""An incident being opened, before its row exists.

Opening a batch of incidents builds these plain objects instead of ORM instances and
inserts their rows in one statement; everything an opening reads from an incident
(snapshot, runbook rendering, the notification payload) reads the same attributes from
either kind, so they accept `IncidentLike`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from service.incidents.models import Incident


@dataclass(slots=True)
class IncidentDraft:
    number: int
    title: str
    description: str
    severity: str
    severity_rank: int
    status: str
    assignee: str | None
    rule_id: str | None
    rule_hash: str | None
    group: dict[str, Any]
    tags: list[str]
    category: str | None
    tlp: str
    dedup_key: str | None
    active_dedup_key: str | None
    first_seen: datetime | None
    last_seen: datetime | None
    event_count: int
    opened_at: datetime
    opened_by: str
    updated_at: datetime
    version: int
    anchor_seq: int
    duplicate_of: int | None = None
    acknowledged_at: datetime | None = None
    contained_at: datetime | None = None
    resolved_at: datetime | None = None
    ack_due_at: datetime | None = None
    resolve_due_at: datetime | None = None
    waiting_reason: str | None = None
    waiting_since: datetime | None = None
    ack_breached_at: datetime | None = None
    resolve_breached_at: datetime | None = None

    @property
    def public_id(self) -> str:
        return f"INC-{self.number}"

    def row(self) -> dict[str, Any]:
        """Values by ORM attribute name, for `insert(Incident)`."""
        return {f.name: getattr(self, f.name) for f in _FIELDS}


_FIELDS = fields(IncidentDraft)

IncidentLike = Incident | IncidentDraft
