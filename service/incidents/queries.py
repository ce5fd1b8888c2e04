"""Reading incidents: the filtered, sorted, cursor-paginated list and the API shapes."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Select, exists, false, func, or_, select, text
from sqlalchemy.orm import Session

from service.errors import InvalidInput
from service.incidents import entity_store
from service.incidents.custody import iso, public_id
from service.incidents.models import Incident, RunbookInstance, TimelineEntry
from service.incidents.schemas import IncidentOut, SortKey, Status
from service.incidents.sla import overdue_clause, sla_view
from service.incidents.transitions import allowed_next

MAX_PAGE = 500


@dataclass
class IncidentFilters:
    status: list[str] = field(default_factory=list)
    severity: list[str] = field(default_factory=list)
    assignee: str | None = None
    rule_id: str | None = None
    category: str | None = None
    tag: str | None = None
    q: str | None = None
    opened_since: datetime | None = None
    opened_until: datetime | None = None
    updated_since: datetime | None = None
    updated_until: datetime | None = None
    entity: tuple[str, str] | None = None
    overdue: bool | None = None


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds(), 3)


# Columns labelled like the ORM attributes, so rows and Incident objects read alike.
_COLUMNS = [getattr(Incident, a.key).label(a.key) for a in Incident.__mapper__.column_attrs]


def to_dict(incident: Any, runbook_id: str | None) -> dict[str, Any]:
    """The API shape of an incident (an Incident or a row of `_COLUMNS`), JSON-ready."""
    opened = incident.opened_at
    return {
        "id": f"INC-{incident.number}",
        "title": incident.title,
        "description": incident.description,
        "severity": incident.severity,
        "status": incident.status,
        "assignee": incident.assignee,
        "rule_id": incident.rule_id,
        "group": incident.group,
        "tags": incident.tags,
        "category": incident.category,
        "tlp": incident.tlp,
        "dedup_key": incident.dedup_key,
        "duplicate_of": public_id(incident.duplicate_of),
        "first_seen": iso(incident.first_seen),
        "last_seen": iso(incident.last_seen),
        "event_count": incident.event_count,
        "opened_at": iso(opened),
        "opened_by": incident.opened_by,
        "updated_at": iso(incident.updated_at),
        "acknowledged_at": iso(incident.acknowledged_at),
        "contained_at": iso(incident.contained_at),
        "resolved_at": iso(incident.resolved_at),
        "time_to_acknowledge": _seconds(opened, incident.acknowledged_at),
        "time_to_resolve": _seconds(opened, incident.resolved_at),
        "runbook_id": runbook_id,
        "anchor_seq": incident.anchor_seq,
        "anchor_checkpoint": incident.anchor_checkpoint,
        "allowed_transitions": allowed_next(Status(incident.status)),
        "version": incident.version,
        "sla": sla_view(incident, datetime.now(UTC)),
    }


def to_out(incident: Incident, runbook_id: str | None) -> IncidentOut:
    return IncidentOut.model_validate(to_dict(incident, runbook_id))


def one(*, session: Session, incident: Incident) -> IncidentOut:
    runbook_id = session.scalar(
        select(RunbookInstance.runbook_id).where(RunbookInstance.incident_number == incident.number)
    )
    body = to_dict(incident, runbook_id)
    body["entities"] = entity_store.of_incident(session=session, number=incident.number)
    body["related"] = entity_store.related(session=session, number=incident.number)
    return IncidentOut.model_validate(body)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _has_tag(session: Session, tag: str) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return text("CAST(incidents.tags AS jsonb) ? :tag").bindparams(tag=tag)
    return exists(
        select(1)
        .select_from(text("json_each(incidents.tags)"))
        .where(text("json_each.value = :tag").bindparams(tag=tag))
    )


def filtered(session: Session, f: IncidentFilters) -> Select[Any]:
    """Incident columns (labelled like the ORM attributes) matching `f`."""
    stmt = select(*_COLUMNS)
    if f.status:
        stmt = stmt.where(Incident.status.in_(f.status))
    if f.severity:
        stmt = stmt.where(Incident.severity.in_(f.severity))
    if f.assignee is not None:
        stmt = stmt.where(Incident.assignee == f.assignee)
    if f.rule_id is not None:
        stmt = stmt.where(Incident.rule_id == f.rule_id)
    if f.category is not None:
        stmt = stmt.where(Incident.category == f.category)
    if f.tag:
        stmt = stmt.where(_has_tag(session, f.tag))
    if f.entity is not None:
        stmt = stmt.where(entity_store.with_entity(*f.entity))
    if f.overdue is not None:
        clause = overdue_clause(datetime.now(UTC))
        stmt = stmt.where(clause if f.overdue else ~func.coalesce(clause, false()))
    if f.q:
        stmt = stmt.where(
            func.lower(Incident.title).like(f"%{_escape_like(f.q.lower())}%", escape="\\")
        )
    for column, since, until in (
        (Incident.opened_at, f.opened_since, f.opened_until),
        (Incident.updated_at, f.updated_since, f.updated_until),
    ):
        if since is not None:
            stmt = stmt.where(column >= since)
        if until is not None:
            stmt = stmt.where(column < until)
    return stmt


def _sort_column(key: SortKey) -> Any:
    # Opening order is number order (numbers come from a counter locked at open).
    return {
        SortKey.opened: None,
        SortKey.updated: Incident.updated_at,
        SortKey.severity: Incident.severity_rank,
    }[key]


def _encode(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def _decode(cursor: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = orjson.loads(raw)
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise InvalidInput("cursor is not a next_cursor this API returned") from exc
    if not isinstance(values, list) or len(values) != 2:
        raise InvalidInput("cursor is not a next_cursor this API returned")
    return values


def page(
    *,
    session: Session,
    filters: IncidentFilters,
    sort: SortKey = SortKey.opened,
    descending: bool = True,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], str | None]:
    """Keyset pagination on (sort value, number), stable under concurrent inserts.

    Items are JSON-ready dicts (the IncidentOut shape): listing is the hot path, so it
    reads plain rows with the runbook id joined in, no ORM objects or model validation.
    """
    limit = max(1, min(limit, MAX_PAGE))
    column = _sort_column(sort)
    stmt = filtered(session, filters)
    if cursor is not None:
        value, number = _decode(cursor)
        if column is None:
            stmt = stmt.where(Incident.number < number if descending else Incident.number > number)
        else:
            if sort is SortKey.updated:
                value = datetime.fromisoformat(value)
            after = column < value if descending else column > value
            tie = Incident.number < number if descending else Incident.number > number
            stmt = stmt.where(or_(after, (column == value) & tie))
    order = [Incident.number.desc() if descending else Incident.number.asc()]
    if column is not None:
        order.insert(0, column.desc() if descending else column.asc())
    stmt = stmt.outerjoin(
        RunbookInstance, RunbookInstance.incident_number == Incident.number
    ).add_columns(RunbookInstance.runbook_id.label("runbook_id"))
    rows = session.execute(stmt.order_by(*order).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [to_dict(r, r.runbook_id) for r in rows]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        key: Any = {
            SortKey.opened: None,
            SortKey.updated: last.updated_at.isoformat(),
            SortKey.severity: last.severity_rank,
        }[sort]
        next_cursor = _encode([key, last.number])
    return items, next_cursor


def timeline(
    *, session: Session, number: int, after_id: int = 0, limit: int = 200
) -> tuple[list[TimelineEntry], str | None]:
    rows = list(
        session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.incident_number == number, TimelineEntry.id > after_id)
            .order_by(TimelineEntry.id)
            .limit(limit + 1)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (str(rows[-1].id) if more and rows else None)
