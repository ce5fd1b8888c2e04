"""Chain of custody: every incident change becomes a timeline row AND a log record.

Both are written in the caller's transaction, so they commit (or vanish) together.
The log record's attributes are enough to rebuild the incident (see audit.py):
`incident.open` carries a full snapshot, later records carry `changes`
(field -> [from, to]), the evidence seqs added, comment bodies and step changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.orm import Session

from service.auditlog.chain import append, prepare_internal
from service.auth.schemas import Principal
from service.db import insert_rows
from service.incidents.draft import IncidentLike
from service.incidents.models import Incident, TimelineEntry
from service.logformat import SERVER_ORIGIN
from service.logging import get_logger
from service.notify import outbox

log = get_logger(__name__)

# The incident fields the log tracks; audit.py compares exactly these.
TRACKED = (
    "title", "description", "severity", "status", "assignee", "rule_id", "rule_hash",
    "group", "tags", "category", "tlp", "dedup_key", "duplicate_of", "first_seen", "last_seen",
    "event_count", "acknowledged_at", "contained_at", "resolved_at", "anchor_seq", "version",
    "ack_due_at", "resolve_due_at", "waiting_reason", "ack_breached_at", "resolve_breached_at",
)  # fmt: skip


@dataclass(frozen=True)
class Actor:
    """Who made a change: a token (responder) or a rule (the correlation engine)."""

    type: str
    id: str
    name: str

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(type="token", id=principal.token_id, name=principal.name or principal.token_id)

    @classmethod
    def rule(cls, rule_id: str) -> Actor:
        return cls(type="rule", id=rule_id, name=f"rule {rule_id}")

    def label(self) -> str:
        return self.name


def now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def public_id(number: int | None) -> str | None:
    return None if number is None else f"INC-{number}"


def snapshot(incident: IncidentLike) -> dict[str, Any]:
    """The tracked fields as JSON values (times RFC 3339, duplicate_of as INC-N)."""
    out: dict[str, Any] = {}
    for name in TRACKED:
        value = getattr(incident, name)
        if isinstance(value, datetime):
            value = iso(value)
        elif name == "duplicate_of":
            value = public_id(value)
        elif isinstance(value, list | dict):
            value = value.copy()
        out[name] = value
    return out


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """field -> [from, to] for every tracked field that changed (version excluded)."""
    return {k: [before[k], after[k]] for k in TRACKED if k != "version" and before[k] != after[k]}


@dataclass(frozen=True)
class Change:
    """One change to one incident, as `record_changes` writes it."""

    incident: IncidentLike
    actor: Actor
    action: str
    kind: str
    changes: dict[str, list[Any]] = field(default_factory=dict)
    body: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)


def record_change(
    *,
    session: Session,
    incident: Incident,
    actor: Actor,
    action: str,
    kind: str,
    changes: dict[str, list[Any]] | None = None,
    body: str | None = None,
    details: dict[str, Any] | None = None,
    attributes: dict[str, Any] | None = None,
) -> int:
    """Append the log record and the timeline row for one change to `incident`; returns
    the timeline row's id."""
    change = Change(
        incident=incident,
        actor=actor,
        action=action,
        kind=kind,
        changes=changes or {},
        body=body,
        details=details or {},
        attributes=attributes or {},
    )
    return record_changes(session=session, changes=[change], ids=True)[0]


def record_changes(*, session: Session, changes: Sequence[Change], ids: bool = False) -> list[int]:
    """Log records (one append), timeline rows and outbox rows for `changes`, in order,
    one statement per table. With `ids`, returns the timeline row ids: only when needed,
    since on SQLite an ordered RETURNING inserts one row per statement."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    events = []
    for c in changes:
        attrs: dict[str, Any] = {
            "kind": c.kind,
            "version": c.incident.version,
            "actor_name": c.actor.name,
            "changes": c.changes,
            **c.details,
            **c.attributes,
        }
        if c.body is not None:
            attrs["body"] = c.body
        events.append(
            prepare_internal(
                action=c.action,
                actor={"type": c.actor.type, "id": c.actor.id},
                resource={"type": "incident", "id": c.incident.public_id},
                attributes=attrs,
                request_id=request_id,
            )
        )
    seqs = append(session=session, events=events, origin=SERVER_ORIGIN).seqs
    at = now()
    entries = []
    notices = []
    for c, log_seq in zip(changes, seqs, strict=True):
        entries.append(
            {
                "incident_number": c.incident.number,
                "at": at,
                "actor_type": c.actor.type,
                "actor_id": c.actor.id,
                "actor_name": c.actor.name,
                "kind": c.kind,
                "changes": {k: {"from": v[0], "to": v[1]} for k, v in c.changes.items()},
                "body": c.body,
                "details": c.details,
                "log_seq": log_seq,
            }
        )
        # Same transaction: a notification exists if and only if the change committed.
        notice = outbox.row_for(incident=c.incident, kind=c.kind, changes=c.changes)
        if notice is not None:
            notices.append(notice)
        _announce(c.incident, kind=c.kind, changes=c.changes, actor=c.actor)
    made = insert_rows(session, TimelineEntry, entries, returning=TimelineEntry.id if ids else None)
    outbox.enqueue(session=session, rows=notices)
    return list(made)


def _announce(
    incident: IncidentLike, *, kind: str, changes: dict[str, list[Any]], actor: Actor
) -> None:
    """One info line for the changes an operator scanning logs wants to see."""
    status = changes.get("status")
    if kind == "open":
        event = "incident.opened"
    elif status is not None and status[1] == "resolved":
        event = "incident.resolved"
    else:
        return
    log.info(
        event,
        incident=incident.public_id,
        severity=incident.severity,
        rule_id=incident.rule_id,
        by=actor.name,
    )


def record_update(
    *, session: Session, incident: Incident, at: datetime | None = None, **change: Any
) -> int:
    """A change that moves the incident's version (its ETag) and `updated_at`, recorded
    like any other (`record_change` keywords)."""
    incident.version += 1
    incident.updated_at = at or now()
    return record_change(session=session, incident=incident, **change)
