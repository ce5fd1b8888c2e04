"""What the live engine is doing: cursor and lag, event time per source, late counts."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auditlog.chain import read_head
from service.auditlog.models import LogRecord
from service.rules.eventtime import EventTimePolicy
from service.rules.models import RuleEngineState, RuleLate, RuleSnapshot, RuleSource
from service.rules.ruleset import RuleSet
from service.rules.schemas import LateCount, RulesStatus, SourceStatus
from service.rules.timeutil import from_us, span_us, to_us


def rules_status(
    *, session: Session, policy: EventTimePolicy, rule_set: RuleSet | None = None
) -> RulesStatus:
    state = session.get(RuleEngineState, 1)
    assert state is not None  # created by the migration
    head = read_head(session)[0]
    cursor = int(state.cursor)
    lag_seconds = 0.0
    if head > cursor:
        wanted = [head, max(cursor, 1)]
        arrived = {
            int(seq): str(at)
            for seq, at in session.execute(
                select(LogRecord.seq, LogRecord.received_at).where(LogRecord.seq.in_(wanted))
            )
        }
        if head in arrived and max(cursor, 1) in arrived:
            lag_us = to_us(arrived[head]) - to_us(arrived[max(cursor, 1)])
            lag_seconds = max(lag_us, 0) / 1e6
    rows = list(session.scalars(select(RuleSource).order_by(RuleSource.source)))
    now = max((r.last_arrival_us for r in rows if r.last_arrival_us is not None), default=None)
    idle_us = span_us(policy.idle_timeout)
    sources = [
        SourceStatus(
            source=r.source,
            state="idle" if _idle(r.last_arrival_us, now, idle_us) else "active",
            watermark=None if r.max_time_us is None else from_us(r.max_time_us - r.lateness_us),
            newest_event_time=None if r.max_time_us is None else from_us(r.max_time_us),
            last_arrival=None if r.last_arrival_us is None else from_us(r.last_arrival_us),
            lateness_seconds=r.lateness_us / 1e6,
            events=r.events,
            late=r.late,
            skewed=r.skewed,
        )
        for r in rows
    ]
    titles = {r.id: r.title for r in rule_set.rules} if rule_set is not None else {}
    late_by_rule = [
        LateCount(source=r.source, rule_id=r.rule_id, rule=titles.get(r.rule_id), count=r.count)
        for r in session.scalars(select(RuleLate).order_by(RuleLate.source, RuleLate.rule_id))
    ]
    snap = session.get(RuleSnapshot, 1)
    taken = snap.taken_at_us if snap is not None and snap.seq >= 0 else None
    return RulesStatus(
        cursor=cursor,
        head=head,
        lag_events=max(head - cursor, 0),
        lag_seconds=lag_seconds,
        warmup=state.warmup,
        snapshot_seq=snap.seq if snap is not None and snap.seq >= 0 else None,
        snapshot_at=None if taken is None else from_us(taken),
        last_error=state.last_error,
        last_error_at=None if state.last_error_at_us is None else from_us(state.last_error_at_us),
        lateness_seconds=policy.lateness.total_seconds(),
        source_lateness_seconds={
            k: v.total_seconds() for k, v in sorted(policy.source_lateness.items())
        },
        idle_timeout_seconds=policy.idle_timeout.total_seconds(),
        clock_skew_seconds=policy.skew_tolerance.total_seconds(),
        clock_skew=sum(s.skewed for s in sources),
        late=sum(s.late for s in sources),
        sources=sources,
        late_by_rule=late_by_rule,
    )


def _idle(arrival: int | None, now: int | None, idle_us: int) -> bool:
    return now is not None and arrival is not None and arrival < now - idle_us
