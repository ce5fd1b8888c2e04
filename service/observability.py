"""Prometheus views of incidents, notifications, checkpoints and the rules engine, read at
scrape time.

The numbers live in the database (several API processes and a worker share them), so
they are computed when Prometheus scrapes rather than counted in one process's memory.
Each scrape costs a handful of indexed aggregate queries.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service.auditlog.chain import read_head
from service.evidence.guard import CheckpointRefused, check_database
from service.evidence.models import CheckpointRow
from service.incidents.models import Incident
from service.incidents.sla import overdue_clause
from service.notify.models import OutboxRow, TargetCursor
from service.rules.models import RuleEngineState, RuleLate, RuleStats

# Seconds: 1 min, 5 min, 15 min, 1 h, 4 h, 1 d, 3 d, 7 d.
BUCKETS = (60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0, 259200.0, 604800.0)
WINDOW = timedelta(days=30)


def _histogram(name: str, doc: str, seconds: list[float]) -> HistogramMetricFamily:
    counts = [sum(1 for s in seconds if s <= bound) for bound in BUCKETS]
    buckets = [(str(b), float(c)) for b, c in zip(BUCKETS, counts, strict=True)]
    buckets.append(("+Inf", float(len(seconds))))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=sum(seconds))


class DatabaseCollector(Collector):
    def __init__(self, factory: sessionmaker[Session], key_path: Path | None = None) -> None:
        self.factory = factory
        self.key_path = key_path

    def collect(self) -> Iterator[Metric]:
        now = datetime.now(UTC)
        with self.factory() as session:
            yield from self._incidents(session, now)
            yield from self._notifications(session)
            yield from self._checkpoint(session, now)
            yield from self._rules(session)

    def _incidents(self, session: Session, now: datetime) -> Iterator[Metric]:
        active = GaugeMetricFamily(
            "custody_incidents", "Incidents by status and severity", labels=["status", "severity"]
        )
        for status, severity, count in session.execute(
            select(Incident.status, Incident.severity, func.count()).group_by(
                Incident.status, Incident.severity
            )
        ):
            active.add_metric([status, severity], count)
        yield active
        overdue = session.scalar(select(func.count()).where(overdue_clause(now))) or 0
        yield GaugeMetricFamily(
            "custody_incidents_overdue", "Incidents with an SLA clock run out", value=overdue
        )
        since = now - WINDOW
        ack = [
            (a - o).total_seconds()
            for o, a in session.execute(
                select(Incident.opened_at, Incident.acknowledged_at).where(
                    Incident.opened_at >= since, Incident.acknowledged_at.is_not(None)
                )
            )
            if a is not None
        ]
        res = [
            (r - o).total_seconds()
            for o, r in session.execute(
                select(Incident.opened_at, Incident.resolved_at).where(
                    Incident.opened_at >= since, Incident.resolved_at.is_not(None)
                )
            )
            if r is not None
        ]
        yield _histogram(
            "custody_incident_time_to_acknowledge_seconds",
            "Open to acknowledged, incidents opened in the last 30 days",
            ack,
        )
        yield _histogram(
            "custody_incident_time_to_resolve_seconds",
            "Open to resolved, incidents opened in the last 30 days",
            res,
        )

    def _notifications(self, session: Session) -> Iterator[Metric]:
        head = session.scalar(select(func.max(OutboxRow.id))) or 0
        depth = GaugeMetricFamily(
            "custody_notify_outbox_depth", "Notifications not yet handled", labels=["target"]
        )
        sent = GaugeMetricFamily(
            "custody_notify_delivered", "Notifications delivered", labels=["target"]
        )
        failed = GaugeMetricFamily(
            "custody_notify_failed", "Notifications given up on", labels=["target"]
        )
        for cursor in session.scalars(select(TargetCursor)):
            pending = session.scalar(
                select(func.count()).where(OutboxRow.id > cursor.last_id, OutboxRow.id <= head)
            )
            depth.add_metric([cursor.target], pending or 0)
            sent.add_metric([cursor.target], cursor.delivered)
            failed.add_metric([cursor.target], cursor.failed)
        yield depth
        yield sent
        yield failed

    def _checkpoint(self, session: Session, now: datetime) -> Iterator[Metric]:
        latest = session.scalar(select(CheckpointRow.timestamp).order_by(CheckpointRow.id.desc()))
        age = GaugeMetricFamily(
            "custody_checkpoint_age_seconds",
            "Seconds since the latest signed checkpoint (absent: none yet)",
        )
        if latest is not None:
            signed = datetime.fromisoformat(latest.replace("Z", "+00:00"))
            age.add_metric([], (now - signed).total_seconds())
        yield age
        if self.key_path is None:
            return
        try:
            finding = check_database(session, self.key_path)
        except CheckpointRefused as exc:
            finding = exc.detail
        yield GaugeMetricFamily(
            "custody_checkpoint_consistent",
            "1 when the stored tree extends the last signed checkpoint (state file), else 0:"
            " the checkpointer refuses to sign until someone looks",
            value=0 if finding else 1,
        )

    def _rules(self, session: Session) -> Iterator[Metric]:
        cursor = session.scalar(select(RuleEngineState.cursor).where(RuleEngineState.id == 1))
        yield GaugeMetricFamily(
            "custody_rules_lag_events",
            "Log records the rules engine has not processed yet",
            value=max(read_head(session)[0] - int(cursor or 0), 0),
        )
        late = CounterMetricFamily(
            "custody_rules_late_events",
            "Events kept out of a correlation rule's windows for being late",
            labels=["source", "rule"],
        )
        for row in session.scalars(select(RuleLate)):
            late.add_metric([row.source, row.rule_id], row.count)
        yield late
        firings = CounterMetricFamily(
            "custody_rules_firings", "Firings of the live rules engine", labels=["rule"]
        )
        for stats in session.scalars(select(RuleStats)):
            firings.add_metric([stats.rule_id], stats.firings)
        yield firings
        opened = CounterMetricFamily(
            "custody_incidents_opened",
            "Incidents opened by rules",
            labels=["rule", "severity"],
        )
        for rule_id, severity, count in session.execute(
            select(Incident.rule_id, Incident.severity, func.count())
            .where(Incident.rule_id.is_not(None))
            .group_by(Incident.rule_id, Incident.severity)
        ):
            opened.add_metric([str(rule_id), str(severity)], count)
        yield opened
