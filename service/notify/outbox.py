"""Writing notifications: one outbox row per notifiable change, in the change's transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from service.db import insert_rows
from service.incidents.draft import IncidentLike
from service.notify.models import OutboxRow

# Statuses after which nobody needs to act any more: PagerDuty resolves on these too.
FINAL = frozenset({"resolved", "closed", "false_positive", "duplicate"})


def event_type(*, kind: str, changes: dict[str, list[Any]]) -> str | None:
    """The notification an incident change produces, or None for changes nobody is paged
    for (comments, evidence, runbook steps, field edits)."""
    if kind == "open":
        return "incident.opened"
    if kind in ("escalated", "sla_breached"):
        return f"incident.{kind}"
    if "status" not in changes:
        return None
    to = changes["status"][1]
    if to == "acknowledged":
        return "incident.acknowledged"
    if to == "resolved":
        return "incident.resolved"
    return "incident.status_changed"


def incident_payload(incident: IncidentLike, *, previous_status: str | None) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    return {
        "id": f"INC-{incident.number}",
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "previous_status": previous_status,
        "assignee": incident.assignee,
        "rule_id": incident.rule_id,
        "group": dict(incident.group or {}),
        "tags": list(incident.tags or []),
        "first_seen": iso(incident.first_seen),
        "last_seen": iso(incident.last_seen),
        "event_count": incident.event_count,
        "version": incident.version,
    }


def row_for(
    *,
    incident: IncidentLike,
    kind: str,
    changes: dict[str, list[Any]],
    details: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The outbox row for this change (if it notifies anyone), for the caller to insert
    in the change's own transaction: it commits, or vanishes, with the change itself."""
    type_ = event_type(kind=kind, changes=changes)
    if type_ is None:
        return None
    status = changes.get("status")
    now = datetime.now(UTC)
    return {
        "created_at": now,
        "type": type_,
        "incident_number": incident.number,
        "severity": incident.severity,
        "payload": {
            "type": type_,
            "timestamp": now.isoformat().replace("+00:00", "Z"),
            "incident": incident_payload(incident, previous_status=status[0] if status else None),
            **({"details": details} if details else {}),
        },
    }


def enqueue(*, session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert outbox rows (`row_for`) in one statement, in the caller's transaction."""
    if rows:
        insert_rows(session, OutboxRow, rows)
