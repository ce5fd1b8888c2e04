"""Appending to the chain: one head lock per request, then one batched insert."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from service.auditlog.models import LogHead, LogPayload, LogRecord
from service.auditlog.prepare import Prepared, payload_body
from service.auditlog.schemas import ItemError, Outcome
from service.logformat import (
    RECORD_VERSION,
    SERVER_ORIGIN,
    SERVER_SOURCE,
    canonical_record,
    chain_hash,
    format_time,
    payload_digest,
)

_LOOKUP_CHUNK = 500


@dataclass
class Appended:
    accepted: int = 0
    duplicates: int = 0
    conflicts: list[ItemError] = field(default_factory=list)
    first_seq: int | None = None
    last_seq: int | None = None
    head_seq: int = 0
    head_hash: str = ""
    seqs: list[int] = field(default_factory=list)


def lock_head(session: Session) -> tuple[int, str]:
    """Take the chain-head lock for the rest of the transaction and return the head.

    An UPDATE is the first statement, so SQLite takes its write lock right away and
    PostgreSQL a row lock that concurrent appenders queue behind.
    """
    row = session.execute(
        text("UPDATE log_head SET seq = seq WHERE id = 1 RETURNING seq, hash")
    ).one()
    return int(row.seq), str(row.hash)


def read_head(session: Session) -> tuple[int, str]:
    row = session.execute(select(LogHead.seq, LogHead.hash).where(LogHead.id == 1)).one()
    return int(row.seq), str(row.hash)


def _existing(
    session: Session, keys: list[tuple[str, str | None]]
) -> dict[tuple[str, str | None], str]:
    """Content hashes already stored under these (source, id) keys.

    One query per source with a plain IN list: the (source, event_id) unique index
    serves it, where a row-value IN list made PostgreSQL plan a scan.
    """
    by_source: dict[str, list[str]] = {}
    for source, event_id in keys:
        if event_id is not None:
            by_source.setdefault(source, []).append(event_id)
    found: dict[tuple[str, str | None], str] = {}
    for source, ids in by_source.items():
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            rows = session.execute(
                select(LogRecord.event_id, LogRecord.content_hash).where(
                    LogRecord.source == source,
                    LogRecord.event_id.in_(ids[start : start + _LOOKUP_CHUNK]),
                )
            )
            for event_id, content_hash in rows:
                found[(source, event_id)] = content_hash
    return found


def _bulk_insert(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """COPY on PostgreSQL (about twice executemany's rate), the driver's executemany on
    SQLite: both skip SQLAlchemy's per-row parameter processing on this hot path."""
    connection = session.connection()
    columns = list(rows[0])
    driver = connection.connection.driver_connection
    assert driver is not None
    if connection.dialect.name != "postgresql":
        marks = ", ".join("?" * len(columns))
        driver.executemany(
            # Table and column names come from our own metadata, never from a request.
            f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
            [tuple(row.values()) for row in rows],
        )
        return
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(tuple(row.values()))


def append(*, session: Session, events: list[Prepared], origin: str) -> Appended:
    """Chain and insert `events`, skipping duplicates and reporting conflicts.

    `origin` goes into every record's hashed form: "server" for Custody's own records,
    else the id of the ingest token that submitted them. The caller decides what a
    conflict means (409 when atomic) and owns the commit.
    """
    head_seq, head_hash = lock_head(session)
    result = Appended(head_seq=head_seq, head_hash=head_hash)
    keys: list[tuple[str, str | None]] = [
        (e.source, e.event_id) for e in events if e.event_id is not None
    ]
    seen = _existing(session, keys) if keys else {}

    fresh: list[Prepared] = []
    for event in events:
        if event.event_id is not None:
            key = (event.source, event.event_id)
            known = seen.get(key)
            if known == event.content_hash:
                result.duplicates += 1
                continue
            if known is not None:
                result.conflicts.append(
                    ItemError(
                        index=event.index,
                        field="id",
                        message=f"id {event.event_id!r} of source {event.source!r} was "
                        "already stored with different content",
                    )
                )
                continue
            seen[key] = event.content_hash
        fresh.append(event)
    if result.conflicts or not fresh:
        return result

    received_at = format_time(datetime.now(UTC))
    salts = os.urandom(16 * len(fresh))
    records: list[dict[str, Any]] = []
    payloads: list[dict[str, Any]] = []
    seq, prev = head_seq, head_hash
    for i, event in enumerate(fresh):
        seq += 1
        salt = salts[16 * i : 16 * i + 16]
        digest = payload_digest(salt, event.body)
        record = {
            "v": RECORD_VERSION,
            "seq": seq,
            "received_at": received_at,
            "id": event.event_id,
            "time": event.time,
            "source": event.source,
            "action": event.action,
            "outcome": event.outcome,
            "actor": event.actor,
            "resource": event.resource,
            "request_id": event.request_id,
            "payload_digest": digest,
            "prev_hash": prev,
            "origin": origin,
        }
        prev = chain_hash(prev, canonical_record(record))
        actor = event.actor or {}
        resource = event.resource or {}
        records.append(
            {
                "seq": seq,
                "received_at": received_at,
                "event_id": event.event_id,
                "time": event.time,
                "source": event.source,
                "action": event.action,
                "outcome": event.outcome,
                "actor_type": actor.get("type"),
                "actor_id": actor.get("id"),
                "actor_ip": actor.get("ip"),
                "actor_user_agent": actor.get("user_agent"),
                "resource_type": resource.get("type"),
                "resource_id": resource.get("id"),
                "resource_version": resource.get("version"),
                "request_id": event.request_id,
                "payload_digest": digest,
                "prev_hash": record["prev_hash"],
                "hash": prev,
                "v": RECORD_VERSION,
                "origin": origin,
                "content_hash": event.content_hash,
            }
        )
        payloads.append({"seq": seq, "salt": salt.hex(), "body": event.body.decode()})

    _bulk_insert(session, LogRecord.__table__, records)
    _bulk_insert(session, LogPayload.__table__, payloads)
    session.execute(update(LogHead).where(LogHead.id == 1).values(seq=seq, hash=prev))
    result.accepted = len(fresh)
    result.first_seq, result.last_seq = head_seq + 1, seq
    result.head_seq, result.head_hash = seq, prev
    result.seqs = list(range(head_seq + 1, seq + 1))
    return result


def record_internal(
    *,
    session: Session,
    action: str,
    actor: dict[str, str] | None = None,
    resource: dict[str, str] | None = None,
    attributes: dict[str, Any] | None = None,
    outcome: Outcome = Outcome.success,
    request_id: str | None = None,
) -> int:
    """Append one event of Custody's own (`source: custody`, origin "server") and
    return its seq.

    Used for the chain of custody: token changes, audited reads, incident changes. It
    joins the caller's transaction, so the change and its log record commit together.
    """
    event = prepare_internal(
        action=action,
        actor=actor,
        resource=resource,
        attributes=attributes,
        outcome=outcome,
        request_id=request_id,
    )
    appended = append(session=session, events=[event], origin=SERVER_ORIGIN)
    assert appended.last_seq is not None  # an event without an id is never a duplicate
    return appended.last_seq


def record_internal_many(*, session: Session, events: list[Prepared]) -> list[int]:
    """Append several `prepare_internal` events in one go; their seqs, in order."""
    if not events:
        return []
    appended = append(session=session, events=events, origin=SERVER_ORIGIN)
    return appended.seqs


def prepare_internal(
    *,
    action: str,
    actor: dict[str, str] | None = None,
    resource: dict[str, str] | None = None,
    attributes: dict[str, Any] | None = None,
    outcome: Outcome = Outcome.success,
    request_id: str | None = None,
) -> Prepared:
    """One event of Custody's own, ready for `append` (see `record_internal`)."""
    body = payload_body(attributes, None)
    time = format_time(datetime.now(UTC))
    core = orjson.dumps(
        [None, time, SERVER_SOURCE, action, outcome.value, actor, resource, request_id]
    )
    return Prepared(
        index=0,
        event_id=None,
        time=time,
        source=SERVER_SOURCE,
        action=action,
        outcome=outcome.value,
        actor=actor,
        resource=resource,
        request_id=request_id,
        body=body,
        content_hash=hashlib.sha256(core + b"\n" + body).hexdigest(),
    )
