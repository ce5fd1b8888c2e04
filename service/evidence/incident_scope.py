"""Incidents seen from the evidence side: the replay/export scope of an incident, and the
signed checkpoint its evidence is anchored to.

Scope: the incident's evidence records, plus everything the same actors did within the
incident's window (``first_seen``..``last_seen``, event time, inclusive), plus the whole
trace (agent run) of every evidence record that belongs to one: a record carrying
``attributes.span_id`` brings every record sharing its ``request_id`` (the trace id).

Anchor: the incidents domain stores ``anchor_seq`` (the log head when the incident
opened); the evidence domain fills ``anchor_checkpoint`` with the first signed checkpoint
covering it. Opening signs one in the same transaction (see :mod:`.anchors`), so it is
the signed tree head of the log as it stood at open, ``incident.open`` record included;
incidents opened before that existed got the next periodic checkpoint. An incident
bundle carries that checkpoint and a consistency proof from it to the bundle's
checkpoint, so a third party can check the evidence was in the log, under that
signature, when the incident opened.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from service.auditlog.models import LogPayload, LogRecord
from service.evidence.merkle import consistency_proof
from service.evidence.models import CheckpointRow
from service.evidence.signing import Checkpoint
from service.evidence.store import SqlNodeStore
from service.incidents.models import Incident, IncidentEvidence
from service.incidents.service import get as get_incident
from service.logformat import format_time


def incident_clause(*, session: Session, incident: str) -> ColumnElement[bool]:
    found = get_incident(session=session, incident_id=incident)
    evidence = select(IncidentEvidence.seq).where(IncidentEvidence.incident_number == found.number)
    clause: ColumnElement[bool] = LogRecord.seq.in_(evidence)
    actors = [
        a
        for a in session.scalars(
            select(LogRecord.actor_id).where(LogRecord.seq.in_(evidence)).distinct()
        )
        if a is not None
    ]
    start, end = found.first_seen, found.last_seen
    if start is None or end is None:  # fall back to the evidence's own time span
        span = session.execute(
            select(func.min(LogRecord.time), func.max(LogRecord.time)).where(
                LogRecord.seq.in_(evidence)
            )
        ).one()
        low, high = span[0], span[1]
    else:
        low, high = format_time(start), format_time(end)
    if actors and low is not None and high is not None:
        window = and_(LogRecord.actor_id.in_(actors), LogRecord.time.between(low, high))
        clause = or_(clause, window)
    if traces := _traces(session, evidence):
        clause = or_(clause, LogRecord.request_id.in_(traces))
    return clause


def _traces(session: Session, evidence: Any) -> list[str]:
    """Trace ids (request_id) of the evidence records that are part of a traced run."""
    rows = session.execute(
        select(LogRecord.request_id, LogPayload.body)
        .join(LogPayload, LogPayload.seq == LogRecord.seq)
        .where(LogRecord.seq.in_(evidence), LogRecord.request_id.is_not(None))
    )
    traces: set[str] = set()
    for request_id, body in rows:
        attributes = orjson.loads(body).get("attributes") or {}
        if request_id and isinstance(attributes, dict) and attributes.get("span_id"):
            traces.add(request_id)
    return sorted(traces)


def fill_anchors(*, session: Session, checkpoint: Checkpoint) -> None:
    """Give every incident opened at or before ``checkpoint``'s size, and not anchored
    yet, this checkpoint. Called for each new checkpoint, in order, so each incident
    gets the first checkpoint covering its anchor_seq."""
    session.execute(
        update(Incident)
        .where(Incident.anchor_checkpoint.is_(None), Incident.anchor_seq <= checkpoint.tree_size)
        .values(anchor_checkpoint=checkpoint.to_dict())
    )


def first_covering(*, session: Session, seq: int) -> Checkpoint | None:
    row = session.scalars(
        select(CheckpointRow)
        .where(CheckpointRow.tree_size >= seq)
        .order_by(CheckpointRow.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    return Checkpoint(row.tree_size, row.root_hash, row.timestamp, row.key_id, row.signature)


def anchor_checkpoint(*, session: Session, incident: str) -> tuple[Incident, Checkpoint | None]:
    found = get_incident(session=session, incident_id=incident)
    if found.anchor_checkpoint:
        return found, Checkpoint.from_dict(found.anchor_checkpoint)
    return found, first_covering(session=session, seq=found.anchor_seq)


def anchor_manifest(
    *, session: Session, incident: Incident, anchor: Checkpoint, bundle: Checkpoint
) -> dict[str, Any]:
    """The manifest's ``anchor`` block for an incident bundle."""
    path = consistency_proof(anchor.tree_size, bundle.tree_size, SqlNodeStore(session))
    seqs = list(
        session.scalars(
            select(IncidentEvidence.seq)
            .where(IncidentEvidence.incident_number == incident.number)
            .order_by(IncidentEvidence.seq)
        )
    )
    return {
        "incident": incident.public_id,
        "rule_id": incident.rule_id,
        "rule_hash": incident.rule_hash,
        "opened_at": format_time(incident.opened_at),
        "anchor_seq": incident.anchor_seq,
        # Evidence added after the anchor (a later firing deduplicated into the incident)
        # is in the bundle with its inclusion proof, but cannot be proven at open.
        "evidence_seqs": [s for s in seqs if s <= anchor.tree_size],
        "later_evidence_seqs": [s for s in seqs if s > anchor.tree_size],
        "checkpoint": anchor.to_dict(),
        "consistency_path": [node.hex() for node in path],
    }
