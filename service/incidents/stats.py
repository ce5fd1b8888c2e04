"""Counts by status and severity, and time to acknowledge / resolve percentiles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from service.incidents.models import Incident
from service.incidents.schemas import Durations, IncidentStats, Severity, Status


def percentile(values: list[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (position - low), 3)


def _durations(values: list[float]) -> Durations:
    return Durations(count=len(values), median=percentile(values, 0.5), p90=percentile(values, 0.9))


def _in_range(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    clauses = []
    if since is not None:
        clauses.append(Incident.opened_at >= since)
    if until is not None:
        clauses.append(Incident.opened_at < until)
    return clauses


def compute(
    *, session: Session, since: datetime | None = None, until: datetime | None = None
) -> IncidentStats:
    """Over incidents opened in [since, until); durations in seconds."""
    by_status = dict.fromkeys((s.value for s in Status), 0)
    by_severity = dict.fromkeys((s.value for s in Severity), 0)
    for column, target in ((Incident.status, by_status), (Incident.severity, by_severity)):
        stmt = select(column, func.count()).where(*_in_range(since, until)).group_by(column)
        for key, count in session.execute(stmt):
            target[key] = count
    tta: list[float] = []
    ttr: list[float] = []
    times = select(Incident.opened_at, Incident.acknowledged_at, Incident.resolved_at).where(
        *_in_range(since, until)
    )
    for opened, acknowledged, resolved in session.execute(times):
        if acknowledged is not None:
            tta.append((acknowledged - opened).total_seconds())
        if resolved is not None:
            ttr.append((resolved - opened).total_seconds())
    return IncidentStats(
        total=sum(by_status.values()),
        by_status=by_status,
        by_severity=by_severity,
        time_to_acknowledge=_durations(tta),
        time_to_resolve=_durations(ttr),
    )
