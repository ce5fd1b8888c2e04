"""Reading the log: filtered pages, streams, single events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from sqlalchemy import Select, and_, select
from sqlalchemy.orm import Session

from service.auditlog.archived import raise_if_archived
from service.auditlog.errors import EventNotFound
from service.auditlog.models import LogPayload, LogRecord
from service.auditlog.schemas import EventFilters
from service.logformat import SERVER_SOURCE, format_time, record_from_row

MAX_PAGE = 1000
STREAM_BATCH = 2000

_COLUMNS = (*LogRecord.__table__.columns, LogPayload.body.label("payload_body"))


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def filtered(
    filters: EventFilters, *, after_seq: int = 0, to_seq: int | None = None
) -> Select[Any]:
    """SELECT of records and payloads matching `filters`, in seq order."""
    stmt = (
        select(*_COLUMNS)
        .select_from(LogRecord)
        .outerjoin(LogPayload, LogPayload.seq == LogRecord.seq)
        .where(LogRecord.seq > after_seq)
        .order_by(LogRecord.seq)
    )
    if to_seq is not None:
        stmt = stmt.where(LogRecord.seq <= to_seq)
    if filters.source:
        stmt = stmt.where(LogRecord.source == filters.source)
    if filters.actor:
        stmt = stmt.where(LogRecord.actor_id == filters.actor)
    if filters.action:
        action = filters.action
        if action.endswith("*"):
            prefix = _escape_like(action.rstrip("*"))
            stmt = stmt.where(LogRecord.action.like(prefix + "%", escape="\\"))
        else:
            stmt = stmt.where(LogRecord.action == action)
    if filters.resource_type:
        stmt = stmt.where(LogRecord.resource_type == filters.resource_type)
    if filters.resource_id:
        stmt = stmt.where(LogRecord.resource_id == filters.resource_id)
    if filters.outcome:
        stmt = stmt.where(LogRecord.outcome == filters.outcome.value)
    if filters.since:
        stmt = stmt.where(LogRecord.time >= format_time(filters.since))
    if filters.until:
        stmt = stmt.where(LogRecord.time < format_time(filters.until))
    if not filters.own_reads:
        stmt = stmt.where(
            ~and_(LogRecord.source == SERVER_SOURCE, LogRecord.action == "audit.read")
        )
    return stmt


def to_public(row: Any, *, include_raw: bool = True) -> dict[str, Any]:
    """The API shape of one stored event: the hashed record, its hash and its payload."""
    out = record_from_row(row)
    del out["v"]
    out["hash"] = row.hash
    if row.payload_body is None:
        out["attributes"] = None
        out["raw"] = None
        out["erased"] = True
    else:
        payload = orjson.loads(row.payload_body)
        out["attributes"] = payload["attributes"]
        out["raw"] = payload["raw"] if include_raw else None
        out["erased"] = False
    return out


def page(
    *,
    session: Session,
    filters: EventFilters,
    after_seq: int = 0,
    limit: int = 100,
    include_raw: bool = False,
) -> tuple[list[dict[str, Any]], str | None]:
    limit = max(1, min(limit, MAX_PAGE))
    rows = session.execute(filtered(filters, after_seq=after_seq).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = str(rows[-1].seq) if more and rows else None
    return [to_public(r, include_raw=include_raw) for r in rows], next_cursor


def stream(
    *,
    session: Session,
    filters: EventFilters,
    after_seq: int = 0,
    to_seq: int | None = None,
    limit: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield matching events with flat memory (server-side cursor, batches of rows)."""
    stmt = filtered(filters, after_seq=after_seq, to_seq=to_seq)
    if limit is not None:
        stmt = stmt.limit(limit)
    result = session.execute(stmt.execution_options(yield_per=STREAM_BATCH))
    try:
        for row in result:
            yield to_public(row)
    finally:
        result.close()  # also when the client goes away mid-stream


def get_event(*, session: Session, seq: int) -> dict[str, Any]:
    row = session.execute(filtered(EventFilters(), after_seq=seq - 1, to_seq=seq)).first()
    if row is None:
        raise_if_archived(session, seq)
        raise EventNotFound(f"No event with seq {seq}")
    return to_public(row)
