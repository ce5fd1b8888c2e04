"""SLA clocks: acknowledge and resolve targets per severity, pauses, breaches, escalation.

Due times are set when an incident opens (`opened_at` + the severity's target) and move
later by the length of every pause: while an incident waits on an external party
(`waiting_reason`), neither clock runs and nothing is overdue. A severity change keeps the
pauses already taken. Breaches are recorded once each, by `SlaWatch`, in the timeline
and the log; a missed acknowledgement also escalates (a notification of its own, so a
second target such as a manager's pager can subscribe to `incident.escalated` alone).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from service.config import Settings
from service.incidents.custody import Actor, diff, record_change, record_update, snapshot
from service.incidents.draft import IncidentLike
from service.incidents.models import Incident
from service.incidents.transitions import ACTIVE
from service.logging import get_logger
from service.worker import PeriodicTask

log = get_logger(__name__)

MINUTE = 60.0
DEFAULT_ACKNOWLEDGE_MINUTES: dict[str, float] = {
    "critical": 15, "high": 60, "medium": 4 * 60, "low": 24 * 60,
}  # fmt: skip
DEFAULT_RESOLVE_MINUTES: dict[str, float] = {
    "critical": 4 * 60, "high": 24 * 60, "medium": 3 * 24 * 60, "low": 7 * 24 * 60,
}  # fmt: skip
ACTIVE_VALUES = tuple(s.value for s in ACTIVE)
WATCH = Actor(type="service", id="sla-watch", name="SLA watch")


@dataclass(frozen=True)
class SlaPolicy:
    """Targets in minutes per severity; a severity without a target has no clock."""

    acknowledge: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_ACKNOWLEDGE_MINUTES)
    )
    resolve: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RESOLVE_MINUTES))

    def due(self, severity: str, opened_at: datetime) -> tuple[datetime | None, datetime | None]:
        ack = self.acknowledge.get(severity)
        res = self.resolve.get(severity)
        return (
            None if ack is None else opened_at + timedelta(minutes=ack),
            None if res is None else opened_at + timedelta(minutes=res),
        )


def policy_of(settings: Settings) -> SlaPolicy:
    return SlaPolicy(
        acknowledge=dict(settings.sla_acknowledge_minutes),
        resolve=dict(settings.sla_resolve_minutes),
    )


def start_clocks(incident: IncidentLike, policy: SlaPolicy) -> None:
    incident.ack_due_at, incident.resolve_due_at = policy.due(incident.severity, incident.opened_at)


def change_severity(incident: Incident, old: str, policy: SlaPolicy) -> None:
    """New targets from the open time, keeping the pauses the old clocks had taken."""
    old_ack, old_res = policy.due(old, incident.opened_at)
    new_ack, new_res = policy.due(incident.severity, incident.opened_at)

    def moved(current: datetime | None, old_base: datetime | None, new: datetime | None) -> Any:
        if new is None:
            return None
        paused = current - old_base if current is not None and old_base is not None else timedelta()
        return new + max(paused, timedelta())

    if incident.acknowledged_at is None:
        incident.ack_due_at = moved(incident.ack_due_at, old_ack, new_ack)
    incident.resolve_due_at = moved(incident.resolve_due_at, old_res, new_res)


def set_waiting(incident: Incident, reason: str | None, at: datetime) -> None:
    """Pause (a reason) or resume (None) the clocks; resuming moves the due times."""
    if reason:
        if incident.waiting_since is None:
            incident.waiting_since = at
        incident.waiting_reason = reason
        return
    if incident.waiting_since is None:
        return
    paused = at - incident.waiting_since
    if incident.ack_due_at is not None and incident.acknowledged_at is None:
        incident.ack_due_at += paused
    if incident.resolve_due_at is not None:
        incident.resolve_due_at += paused
    incident.waiting_since = None
    incident.waiting_reason = None


def overdue(incident: Any, at: datetime) -> list[str]:
    """Which clocks have run out: `acknowledge`, `resolve` (none while waiting)."""
    if incident.waiting_since is not None:
        return []
    out = []
    if incident.status == "open" and incident.ack_due_at is not None and at > incident.ack_due_at:
        out.append("acknowledge")
    if (
        incident.status in ACTIVE_VALUES
        and incident.resolve_due_at is not None
        and at > incident.resolve_due_at
    ):
        out.append("resolve")
    return out


def overdue_clause(at: datetime) -> Any:
    """SQL twin of `overdue`: the incident has at least one clock run out."""
    return and_(
        Incident.waiting_since.is_(None),
        or_(
            and_(Incident.status == "open", Incident.ack_due_at < at),
            and_(Incident.status.in_(ACTIVE_VALUES), Incident.resolve_due_at < at),
        ),
    )


def sla_view(incident: Any, at: datetime) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    return {
        "acknowledge_due": iso(incident.ack_due_at),
        "resolve_due": iso(incident.resolve_due_at),
        "acknowledge_breached_at": iso(incident.ack_breached_at),
        "resolve_breached_at": iso(incident.resolve_breached_at),
        "waiting_reason": incident.waiting_reason,
        "waiting_since": iso(incident.waiting_since),
        "overdue": overdue(incident, at),
    }


def record_breaches(*, session: Session, at: datetime, limit: int = 200) -> int:
    """Record every breach not recorded yet (once each); returns how many."""
    rows = session.scalars(
        select(Incident)
        .where(
            Incident.waiting_since.is_(None),
            or_(
                and_(
                    Incident.status == "open",
                    Incident.ack_due_at < at,
                    Incident.ack_breached_at.is_(None),
                ),
                and_(
                    Incident.status.in_(ACTIVE_VALUES),
                    Incident.resolve_due_at < at,
                    Incident.resolve_breached_at.is_(None),
                ),
            ),
        )
        .order_by(Incident.number)
        .limit(limit)
        .with_for_update()
    ).all()
    for incident in rows:
        for clock in overdue(incident, at):
            column = "ack_breached_at" if clock == "acknowledge" else "resolve_breached_at"
            if getattr(incident, column) is not None:
                continue
            before = snapshot(incident)
            setattr(incident, column, at)
            due = incident.ack_due_at if clock == "acknowledge" else incident.resolve_due_at
            record_update(
                session=session,
                incident=incident,
                at=at,
                actor=WATCH,
                action="incident.sla.breach",
                kind="sla_breached",
                changes=diff(before, snapshot(incident)),
                details={"clock": clock, "due": due.isoformat() if due else None},
            )
            log.warning("incident.sla_breached", incident=incident.public_id, clock=clock)
            if clock == "acknowledge":
                record_change(
                    session=session,
                    incident=incident,
                    actor=WATCH,
                    action="incident.escalate",
                    kind="escalated",
                    details={"reason": "acknowledge target missed", "severity": incident.severity},
                )
                log.warning("incident.escalated", incident=incident.public_id)
    return len(rows)


class SlaWatch(PeriodicTask):
    """Background task: records breaches and escalates, every `every` seconds."""

    name = "sla-watch"

    def step(self, session: Session, now: datetime) -> int:
        return record_breaches(session=session, at=now)


def build(settings: Settings) -> SlaWatch:
    """The breach watcher for `custody worker` (and `custody serve` on the embedded default)."""
    return SlaWatch(every=settings.sla_check_seconds)
