"""What is searchable in an event, read from the log for both backends.

Text = action, actor id and ip, resource type and id, request id, and the payload body
(attributes and raw as stored JSON). An erased payload has no body, so its text is no
longer searchable once the event is re-indexed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auditlog.models import LogPayload, LogRecord
from service.search.index import words

TEXT_COLUMNS = (
    LogRecord.action,
    LogRecord.actor_id,
    LogRecord.actor_ip,
    LogRecord.resource_type,
    LogRecord.resource_id,
    LogRecord.request_id,
    LogPayload.body,
)
_TEXT = ("action", "actor_id", "actor_ip", "resource_type", "resource_id", "request_id", "body")
# Exact-match fields of a document, the ones the event filters use.
KEYWORDS = ("time", "source", "action", "outcome", "actor_id", "resource_type", "resource_id")

_SELECT = (
    select(
        LogRecord.seq,
        LogRecord.time,
        LogRecord.source,
        LogRecord.action,
        LogRecord.outcome,
        LogRecord.actor_id,
        LogRecord.actor_ip,
        LogRecord.resource_type,
        LogRecord.resource_id,
        LogRecord.request_id,
        LogPayload.body,
    )
    .select_from(LogRecord)
    .outerjoin(LogPayload, LogPayload.seq == LogRecord.seq)
    .order_by(LogRecord.seq)
)


def read_documents(*, session: Session, after_seq: int, limit: int) -> list[dict[str, Any]]:
    """Index documents for the next `limit` records after `after_seq`, in seq order."""
    rows = session.execute(_SELECT.where(LogRecord.seq > after_seq).limit(limit)).all()
    docs = []
    for row in rows:
        doc: dict[str, Any] = {k: getattr(row, k) for k in KEYWORDS}
        doc["seq"] = row.seq
        text = " ".join(str(v) for v in (getattr(row, k) for k in _TEXT) if v is not None)
        doc["text"] = " ".join(words(text))
        docs.append(doc)
    return docs
