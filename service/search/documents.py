"""What is searchable in an event, read from the log for both backends.

Text = action, actor id and ip, resource type and id, request id, and the payload body
(attributes and raw as stored JSON). An erased payload has no body, so its text is no
longer searchable once the event is re-indexed: the indexer does that when it meets the
`event.erase` record, since it follows the log by seq.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auditlog.models import LogPayload, LogRecord
from service.auditlog.verify import ERASE_ACTION
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
    return _documents(session.execute(_SELECT.where(LogRecord.seq > after_seq).limit(limit)).all())


def erased_seqs(docs: Sequence[dict[str, Any]]) -> list[int]:
    """The seqs whose payload the `event.erase` records among `docs` erased. Ingest
    refuses the source `custody`, so these are the server's own erase records."""
    return sorted(
        {
            int(d["resource_id"])
            for d in docs
            if d["source"] == "custody"
            and d["action"] == ERASE_ACTION
            and d["resource_type"] == "event"
            and str(d["resource_id"]).isdigit()
        }
    )


def documents_of(*, session: Session, seqs: Sequence[int]) -> list[dict[str, Any]]:
    """Index documents of these seqs as they are now (an erased one has no payload text)."""
    if not seqs:
        return []
    return _documents(session.execute(_SELECT.where(LogRecord.seq.in_(seqs))).all())


def _documents(rows: Sequence[Any]) -> list[dict[str, Any]]:
    docs = []
    for row in rows:
        doc: dict[str, Any] = {k: getattr(row, k) for k in KEYWORDS}
        doc["seq"] = row.seq
        text = " ".join(str(v) for v in (getattr(row, k) for k in _TEXT) if v is not None)
        doc["text"] = " ".join(words(text))
        docs.append(doc)
    return docs
