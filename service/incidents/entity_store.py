"""Entities of incidents in the database: counted as evidence is linked, pivoted on by
responders, and the basis of related incidents."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from service.db import insert_rows
from service.incidents.custody import iso
from service.incidents.entities import extract
from service.incidents.errors import EntityNotFound
from service.incidents.models import Incident, IncidentEntity, IncidentLink

# Too common to relate incidents: every incident of a busy source would share it.
NOT_RELATING = frozenset({"source"})


def _when(event: Mapping[str, Any]) -> datetime | None:
    value = event.get("time")
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def tally(events: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], list[Any]]:
    """(type, value) -> [count, first seen, last seen] over `events`."""
    seen: dict[tuple[str, str], list[Any]] = {}
    for event in events:
        when = _when(event)
        for key in extract(event):
            entry = seen.setdefault(key, [0, when, when])
            entry[0] += 1
            if when is not None:
                entry[1] = when if entry[1] is None else min(entry[1], when)
                entry[2] = when if entry[2] is None else max(entry[2], when)
    return seen


def record(*, session: Session, number: int, events: Iterable[Mapping[str, Any]]) -> None:
    """Count the entities of newly linked evidence `events` on incident `number`."""
    record_many(session=session, events_by_number={number: events})


def record_many(
    *, session: Session, events_by_number: Mapping[int, Iterable[Mapping[str, Any]]]
) -> None:
    """`record` for several incidents: one read of their entity rows for the values seen,
    one multi-row insert of the new ones; counts of known ones are updated in place."""
    tallies = ((number, tally(events)) for number, events in events_by_number.items())
    seen = {number: tallied for number, tallied in tallies if tallied}
    if not seen:
        return
    values = sorted({value for tallied in seen.values() for _, value in tallied})
    existing: dict[tuple[int, str, str], IncidentEntity] = {}
    numbers = sorted(seen)
    for start in range(0, len(values), 500):
        rows = session.scalars(
            select(IncidentEntity).where(
                IncidentEntity.incident_number.in_(numbers),
                IncidentEntity.value.in_(values[start : start + 500]),
            )
        )
        existing.update({(e.incident_number, e.type, e.value): e for e in rows})
    new = []
    for number, tallied in seen.items():
        for (kind, value), (count, first, last) in tallied.items():
            row = existing.get((number, kind, value))
            if row is None:
                new.append(_row(number, kind, value, count, first, last))
            else:
                _widen(row, count, first, last)
    insert_rows(session, IncidentEntity, new)


def _row(number: int, kind: str, value: str, count: int, first: Any, last: Any) -> dict[str, Any]:
    """A new `incident_entities` row, for `insert_rows`."""
    return {
        "incident_number": number,
        "type": kind,
        "value": value,
        "count": count,
        "first_seen": first,
        "last_seen": last,
    }


def _widen(row: IncidentEntity, count: int, first: Any, last: Any) -> None:
    row.count += count
    if first is not None and (row.first_seen is None or first < row.first_seen):
        row.first_seen = first
    if last is not None and (row.last_seen is None or last > row.last_seen):
        row.last_seen = last


def record_new(
    *, session: Session, events_by_number: Mapping[int, Iterable[Mapping[str, Any]]]
) -> None:
    """`record` for incidents opened in this transaction (no entity rows yet): one
    multi-row insert for all of them."""
    rows = [
        _row(number, kind, value, count, first, last)
        for number, events in events_by_number.items()
        for (kind, value), (count, first, last) in tally(events).items()
    ]
    insert_rows(session, IncidentEntity, rows)


def _out(row: Any) -> dict[str, Any]:
    return {
        "type": row.type,
        "value": row.value,
        "count": row.count,
        "first_seen": iso(row.first_seen),
        "last_seen": iso(row.last_seen),
    }


def of_incident(*, session: Session, number: int, limit: int = 200) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(IncidentEntity)
        .where(IncidentEntity.incident_number == number)
        .order_by(IncidentEntity.type, IncidentEntity.count.desc(), IncidentEntity.value)
        .limit(limit)
    )
    return [_out(r) for r in rows]


def related(*, session: Session, number: int, limit: int = 20) -> list[dict[str, Any]]:
    """Incidents sharing an entity (other than a source) with `number`, or linked to it by
    a responder; each with what they share, most shared first."""
    mine = IncidentEntity.__table__.alias("mine")
    theirs = IncidentEntity.__table__.alias("theirs")
    shared_rows = session.execute(
        select(theirs.c.incident_number, theirs.c.type, theirs.c.value)
        .join(mine, and_(mine.c.type == theirs.c.type, mine.c.value == theirs.c.value))
        .where(
            mine.c.incident_number == number,
            theirs.c.incident_number != number,
            mine.c.type.not_in(NOT_RELATING),
        )
        .order_by(theirs.c.incident_number.desc())
        .limit(2000)
    ).all()
    shared: dict[int, list[dict[str, str]]] = {}
    for other, kind, value in shared_rows:
        shared.setdefault(other, []).append({"type": kind, "value": value})
    links = {
        row.other_number: row.kind
        for row in session.scalars(
            select(IncidentLink).where(IncidentLink.incident_number == number)
        )
    }
    numbers = sorted(set(shared) | set(links), key=lambda n: (-len(shared.get(n, [])), -n))[:limit]
    if not numbers:
        return []
    incidents = {
        i.number: i for i in session.scalars(select(Incident).where(Incident.number.in_(numbers)))
    }
    return [
        {
            "id": f"INC-{n}",
            "title": incidents[n].title,
            "status": incidents[n].status,
            "severity": incidents[n].severity,
            "link": links.get(n),
            "shared": shared.get(n, [])[:20],
        }
        for n in numbers
        if n in incidents
    ]


def with_entity(kind: str, value: str) -> Any:
    """A WHERE clause: the incident has entity (kind, value)."""
    return exists(
        select(1).where(
            IncidentEntity.incident_number == Incident.number,
            IncidentEntity.type == kind,
            IncidentEntity.value == value,
        )
    )


def lookup(*, session: Session, kind: str, value: str, limit: int = 200) -> dict[str, Any]:
    """What Custody knows of one entity: the incidents whose evidence carries it."""
    rows = session.execute(
        select(IncidentEntity, Incident.title, Incident.status, Incident.severity)
        .join(Incident, Incident.number == IncidentEntity.incident_number)
        .where(IncidentEntity.type == kind, IncidentEntity.value == value)
        .order_by(IncidentEntity.incident_number.desc())
        .limit(limit)
    ).all()
    if not rows:
        raise EntityNotFound(f"No incident has the entity {kind}:{value}")
    firsts = [r[0].first_seen for r in rows if r[0].first_seen is not None]
    lasts = [r[0].last_seen for r in rows if r[0].last_seen is not None]
    total = session.scalar(
        select(func.count()).where(IncidentEntity.type == kind, IncidentEntity.value == value)
    )
    return {
        "type": kind,
        "value": value,
        "first_seen": iso(min(firsts)) if firsts else None,
        "last_seen": iso(max(lasts)) if lasts else None,
        "evidence_events": sum(r[0].count for r in rows),
        "incident_count": total,
        "incidents": [
            {
                "id": f"INC-{entity.incident_number}",
                "title": title,
                "status": status,
                "severity": severity,
                **{k: v for k, v in _out(entity).items() if k not in ("type", "value")},
            }
            for entity, title, status, severity in rows
        ],
    }
