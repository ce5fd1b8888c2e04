"""Evidence: links from incidents to log seqs, and the linked records as the API shows them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.auditlog.models import LogPayload, LogRecord
from service.auditlog.queries import to_public
from service.db import insert_rows
from service.incidents import entity_store
from service.incidents.custody import now
from service.incidents.errors import UnknownEvidence
from service.incidents.models import Incident, IncidentEvidence

_CHUNK = 500
_COLUMNS = (*LogRecord.__table__.columns, LogPayload.body.label("payload_body"))


def require_seqs(*, session: Session, seqs: Iterable[int]) -> list[int]:
    """Sorted unique `seqs`; UnknownEvidence (422) lists every seq not in the log."""
    wanted = sorted(set(seqs))
    found: set[int] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found.update(session.scalars(select(LogRecord.seq).where(LogRecord.seq.in_(chunk))))
    missing = [s for s in wanted if s not in found]
    if missing:
        raise UnknownEvidence(
            f"No log record with seq {', '.join(map(str, missing[:20]))}",
            errors=[{"field": "seqs", "message": f"unknown seq {s}"} for s in missing[:100]],
        )
    return wanted


def linked_seqs(*, session: Session, number: int) -> set[int]:
    rows = session.scalars(
        select(IncidentEvidence.seq).where(IncidentEvidence.incident_number == number)
    )
    return set(rows)


def link(*, session: Session, incident: Incident, seqs: Sequence[int], by: str) -> list[int]:
    """Link the (validated) `seqs` not linked yet; returns the new ones, sorted."""
    number = incident.number
    return link_many(session=session, seqs_by_number={number: seqs}, by={number: by})[number]


def link_many(
    *, session: Session, seqs_by_number: Mapping[int, Sequence[int]], by: Mapping[int, str]
) -> dict[int, list[int]]:
    """`link` for several incidents: one read of what is linked already, one multi-row
    insert, one read of the new events for their entities. Returns the new seqs per
    incident, sorted."""
    numbers = sorted(seqs_by_number)
    candidates = sorted({s for seqs in seqs_by_number.values() for s in seqs})
    linked: set[tuple[int, int]] = set()
    for start in range(0, len(candidates), _CHUNK):
        rows = session.execute(
            select(IncidentEvidence.incident_number, IncidentEvidence.seq).where(
                IncidentEvidence.incident_number.in_(numbers),
                IncidentEvidence.seq.in_(candidates[start : start + _CHUNK]),
            )
        )
        linked.update((n, s) for n, s in rows)
    fresh = {
        number: sorted({s for s in seqs if (number, s) not in linked})
        for number, seqs in seqs_by_number.items()
    }
    at = now()
    insert_rows(
        session,
        IncidentEvidence,
        [
            {"incident_number": n, "seq": s, "added_at": at, "added_by": by[n]}
            for n, seqs in fresh.items()
            for s in seqs
        ],
    )
    events = {
        e["seq"]: e
        for e in records(session=session, seqs=[s for seqs in fresh.values() for s in seqs])
    }
    entity_store.record_many(
        session=session,
        events_by_number={n: [events[s] for s in seqs] for n, seqs in fresh.items() if seqs},
    )
    return fresh


def link_new(
    *,
    session: Session,
    seqs_by_number: Mapping[int, Sequence[int]],
    by: Mapping[int, str],
    at: datetime,
) -> None:
    """Link validated seqs to incidents opened in this transaction (nothing linked yet):
    one multi-row insert. Entities are the caller's (it has the events in hand)."""
    rows = [
        {"incident_number": number, "seq": seq, "added_at": at, "added_by": by[number]}
        for number, seqs in seqs_by_number.items()
        for seq in seqs
    ]
    if rows:
        insert_rows(session, IncidentEvidence, rows)


def records(*, session: Session, seqs: Sequence[int]) -> list[dict[str, Any]]:
    """The public shape of log records `seqs` (without raw), in seq order."""
    out: list[dict[str, Any]] = []
    wanted = sorted(set(seqs))
    for start in range(0, len(wanted), _CHUNK):
        rows = session.execute(
            select(*_COLUMNS)
            .select_from(LogRecord)
            .outerjoin(LogPayload, LogPayload.seq == LogRecord.seq)
            .where(LogRecord.seq.in_(wanted[start : start + _CHUNK]))
            .order_by(LogRecord.seq)
        )
        out.extend(to_public(r, include_raw=False) for r in rows)
    return out


def family(*, session: Session, number: int) -> list[int]:
    """`number` and every incident marked (transitively) a duplicate of it."""
    members = [number]
    frontier = [number]
    while frontier:
        frontier = list(
            session.scalars(select(Incident.number).where(Incident.duplicate_of.in_(frontier)))
        )
        members.extend(frontier)
    return members


def page(
    *, session: Session, number: int, after_seq: int, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Evidence of the incident and of its duplicates, in seq order, each with `via`."""
    members = family(session=session, number=number)
    rows = session.execute(
        select(IncidentEvidence.seq, func.min(IncidentEvidence.incident_number))
        .where(IncidentEvidence.incident_number.in_(members), IncidentEvidence.seq > after_seq)
        .group_by(IncidentEvidence.seq)
        .order_by(IncidentEvidence.seq)
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    # Prefer the incident itself as `via` when it holds the seq directly.
    own = linked_seqs(session=session, number=number) if len(members) > 1 else None
    via = {seq: number if own is None or seq in own else holder for seq, holder in rows}
    items = records(session=session, seqs=[seq for seq, _ in rows])
    for item in items:
        item["via"] = f"INC-{via[item['seq']]}"
    return items, (str(rows[-1][0]) if more and rows else None)
