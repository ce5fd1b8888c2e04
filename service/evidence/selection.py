"""Which log rows a replay or export scope selects, as one ordered SELECT."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from service.auditlog.models import LogPayload, LogRecord
from service.auditlog.queries import filtered
from service.evidence.incident_scope import incident_clause
from service.evidence.schemas import Scope


def select_scope(*, session: Session, scope: Scope) -> Select[Any]:
    """Rows (record columns, ``payload_body``, ``salt``) of ``scope`` in seq order."""
    after = (scope.from_seq - 1) if scope.from_seq else 0
    stmt = filtered(scope.filters(), after_seq=after, to_seq=scope.to_seq).add_columns(
        LogPayload.salt
    )
    if scope.trace_id:
        stmt = stmt.where(LogRecord.request_id == scope.trace_id)
    if scope.incident:
        stmt = stmt.where(incident_clause(session=session, incident=scope.incident))
    return stmt
