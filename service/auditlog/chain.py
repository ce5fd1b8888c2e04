"""Appending to the chain: one head lock per request, then one batched insert."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from service.auditlog.models import LogHead
from service.auditlog.partitions import make_room
from service.auditlog.prepare import Prepared, payload_body
from service.auditlog.schemas import ItemError, Outcome
from service.logformat import (
    RECORD_VERSION,
    SERVER_ORIGIN,
    SERVER_SOURCE,
    format_time,
    linked_hash,
    payload_digest,
    record_template,
)


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


def _driver(session: Session) -> Any:
    """The DB-API connection under the session's transaction: the hot path talks to it
    directly, skipping SQLAlchemy's compile and per-row parameter processing."""
    driver = session.connection().connection.driver_connection
    assert driver is not None
    return driver


def existing_ids(session: Session, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (source, id) keys are stored."""
    found = _existing(session, list(keys))
    return {(source, str(event_id)) for source, event_id in found}


def _existing(session: Session, keys: list[tuple[str, str]]) -> dict[tuple[str, str | None], str]:
    """Content hashes already stored under these (source, id) keys: one round trip per
    source (a batch has one, as a rule), served by the primary key of `log_event_ids`
    (which also remembers the ids of archived records)."""
    by_source: dict[str, list[str]] = {}
    for source, event_id in keys:
        by_source.setdefault(source, []).append(event_id)
    postgres = session.get_bind().dialect.name == "postgresql"
    sql = (
        "SELECT event_id, content_hash FROM log_event_ids WHERE source = %s AND event_id = ANY(%s)"
        if postgres
        else "SELECT event_id, content_hash FROM log_event_ids WHERE source = ? "
        "AND event_id IN (SELECT value FROM json_each(?))"
    )
    driver = _driver(session)
    found: dict[tuple[str, str | None], str] = {}
    for source, ids in by_source.items():
        cursor = driver.execute(sql, (source, ids if postgres else orjson.dumps(ids).decode()))
        for event_id, content_hash in cursor.fetchall():
            found[(source, event_id)] = content_hash
    return found


_RECORD_COLUMNS = (
    "seq", "received_at", "event_id", "time", "source", "action", "outcome",
    "actor_type", "actor_id", "actor_ip", "actor_user_agent",
    "resource_type", "resource_id", "resource_version",
    "request_id", "payload_digest", "prev_hash", "hash", "v", "origin", "content_hash",
)  # fmt: skip
_RECORD_TYPES = ["int8"] + ["text"] * 17 + ["int2", "text", "text"]
_PAYLOAD_COLUMNS = ("seq", "salt", "body")
_PAYLOAD_TYPES = ["int8", "text", "text"]
_EVENT_ID_COLUMNS = ("source", "event_id", "seq", "content_hash")
_EVENT_ID_TYPES = ["text", "text", "int8", "text"]


def _bulk_insert(
    session: Session,
    table: str,
    columns: tuple[str, ...],
    types: list[str],
    rows: list[tuple[Any, ...]],
) -> None:
    """One binary COPY on PostgreSQL, the driver's executemany on SQLite."""
    driver = _driver(session)
    # Table and column names are constants of this module, never from a request.
    names = ", ".join(columns)
    if session.get_bind().dialect.name != "postgresql":
        marks = ", ".join("?" * len(columns))
        driver.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)  # noqa: S608
        return
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def append(*, session: Session, events: list[Prepared], origin: str) -> Appended:
    """Chain and insert `events`, skipping duplicates and reporting conflicts.

    `origin` goes into every record's hashed form: "server" for Custody's own records,
    else the id of the ingest token that submitted them. The caller decides what a
    conflict means (409 when atomic) and owns the commit.
    """
    # Everything that does not depend on the chain head is done before taking its lock,
    # so that concurrent appenders (several server processes) overlap that work.
    salts = os.urandom(16 * len(events))
    staged: list[tuple[Prepared, bytes, str, tuple[bytes, bytes, bytes]]] = []
    for i, event in enumerate(events):
        salt = salts[16 * i : 16 * i + 16]
        digest = payload_digest(salt, event.body)
        template = record_template(
            {
                "v": RECORD_VERSION,
                "id": event.event_id,
                "time": event.time,
                "source": event.source,
                "action": event.action,
                "outcome": event.outcome,
                "actor": event.actor,
                "resource": event.resource,
                "request_id": event.request_id,
                "payload_digest": digest,
                "origin": origin,
            }
        )
        staged.append((event, salt, digest, template))

    head_seq, head_hash = lock_head(session)
    result = Appended(head_seq=head_seq, head_hash=head_hash)
    # Under the head lock, so an event another appender just committed is seen here.
    keys = [(e.source, e.event_id) for e in events if e.event_id is not None]
    seen = _existing(session, keys) if keys else {}

    fresh: list[tuple[Prepared, bytes, str, tuple[bytes, bytes, bytes]]] = []
    for item in staged:
        event = item[0]
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
        fresh.append(item)
    if result.conflicts or not fresh:
        return result

    received_at = format_time(datetime.now(UTC))
    records: list[tuple[Any, ...]] = []
    payloads: list[tuple[Any, ...]] = []
    event_ids: list[tuple[Any, ...]] = []
    seq, prev = head_seq, head_hash
    for event, salt, digest, template in fresh:
        seq += 1
        hash_ = linked_hash(prev, seq, received_at, template)
        actor = event.actor or _EMPTY
        resource = event.resource or _EMPTY
        records.append(
            (seq, received_at, event.event_id, event.time, event.source, event.action,
             event.outcome, actor.get("type"), actor.get("id"), actor.get("ip"),
             actor.get("user_agent"), resource.get("type"), resource.get("id"),
             resource.get("version"), event.request_id, digest, prev, hash_,
             RECORD_VERSION, origin, event.content_hash)
        )  # fmt: skip
        payloads.append((seq, salt.hex(), event.body.decode()))
        if event.event_id is not None:
            event_ids.append((event.source, event.event_id, seq, event.content_hash))
        prev = hash_

    make_room(session, seq)
    _bulk_insert(session, "log_records", _RECORD_COLUMNS, _RECORD_TYPES, records)
    _bulk_insert(session, "log_payloads", _PAYLOAD_COLUMNS, _PAYLOAD_TYPES, payloads)
    if event_ids:
        _bulk_insert(session, "log_event_ids", _EVENT_ID_COLUMNS, _EVENT_ID_TYPES, event_ids)
    session.execute(_SET_HEAD, {"seq": seq, "hash": prev})
    result.accepted = len(fresh)
    result.first_seq, result.last_seq = head_seq + 1, seq
    result.head_seq, result.head_hash = seq, prev
    result.seqs = list(range(head_seq + 1, seq + 1))
    return result


_EMPTY: dict[str, str] = {}
_SET_HEAD = text("UPDATE log_head SET seq = :seq, hash = :hash WHERE id = 1")


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
