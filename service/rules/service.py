"""Rule catalogue, reload and backtest: the logic behind the rules API and CLI."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path

from sqlalchemy.orm import Session

from service.auditlog.chain import record_internal
from service.rules import store
from service.rules.backtest import load_candidates, run_backtest
from service.rules.errors import InvalidRules, RuleNotFound
from service.rules.eventtime import EventTimePolicy
from service.rules.model import Firing, Rule, RuleLoadError
from service.rules.models import RuleStats
from service.rules.ruleset import RuleRegistry, RuleSet
from service.rules.schemas import (
    BacktestIn,
    BacktestOut,
    ReloadOut,
    RuleCounters,
    RuleDetail,
    RuleError,
    RuleOut,
    RulePage,
    WouldOpen,
)
from service.rules.timeutil import from_us


def error_out(error: RuleLoadError, *, directory: Path | None = None) -> RuleError:
    return RuleError(
        file=_relative(error.path, directory),
        field=error.field,
        rule=error.rule,
        message=error.message,
        unsupported=error.unsupported,
    )


def _relative(path: Path, directory: Path | None) -> str:
    if directory is not None and path.is_relative_to(directory):
        return str(path.relative_to(directory))
    return str(path)


def _counters(stats: RuleStats | None) -> RuleCounters:
    if stats is None:
        return RuleCounters(events_matched=0, firings=0, incidents_opened=0, last_fired=None)
    last = stats.last_fired_us
    return RuleCounters(
        events_matched=stats.events_matched,
        firings=stats.firings,
        incidents_opened=stats.incidents_opened,
        last_fired=None if last is None else from_us(last),
    )


def _rule_out(rule: Rule, rule_set: RuleSet, stats: RuleStats | None) -> RuleOut:
    return RuleOut(
        id=rule.id,
        name=rule.name,
        title=rule.title,
        severity=str(rule.severity),
        tags=list(rule.tags),
        runbook=rule.runbook,
        kind=rule.kind,
        emits=rule.emits,
        file=_relative(rule.path, rule_set.directory),
        content_hash=rule.content_hash,
        counters=_counters(stats),
        vendor_source=rule.vendor_source,
    )


def list_rules(*, session: Session, rule_set: RuleSet) -> RulePage:
    stats = store.read_stats(session=session)
    return RulePage(
        items=[_rule_out(r, rule_set, stats.get(r.id)) for r in rule_set.rules],
        errors=[error_out(e, directory=rule_set.directory) for e in rule_set.errors],
        loaded_at=rule_set.loaded_at,
    )


def get_rule(*, session: Session, rule_set: RuleSet, rule_id: str) -> RuleDetail:
    rule = rule_set.find(rule_id)
    if rule is None:
        raise RuleNotFound(f"No loaded rule with id or name '{rule_id}'")
    stats = store.read_stats(session=session, rule_ids=[rule.id]).get(rule.id)
    corr = rule.correlation
    return RuleDetail(
        **_rule_out(rule, rule_set, stats).model_dump(),
        description=rule.description,
        dedup=list(rule.dedup),
        references=(
            list(dict.fromkeys(corr.refs))
            if corr
            else [rule.not_preceded_by.rule] if rule.not_preceded_by else []
        ),
        group_by=list(corr.group_by) if corr else [],
        timespan_seconds=corr.timespan.total_seconds() if corr else None,
        first_seen=(
            {
                "fields": list(rule.first_seen.fields),
                "history_seconds": rule.first_seen.history.total_seconds(),
            }
            if rule.first_seen
            else None
        ),
        document={str(k): v for k, v in rule.document.items()},
    )


def reload_rules(
    *, session: Session, registry: RuleRegistry, actor: dict[str, str] | None
) -> ReloadOut:
    """Reload this process's view and ask every runner (any process) to reload too."""
    rule_set = registry.reload()
    generation = store.bump_generation(session=session)
    errors = [error_out(e, directory=rule_set.directory) for e in rule_set.errors]
    # A rules change alters what gets detected: it belongs in the tamper-evident trail.
    record_internal(
        session=session,
        action="rules.reload",
        actor=actor,
        resource={"type": "rules", "id": str(rule_set.directory)},
        attributes={
            "generation": generation,
            "rules": {r.id: r.content_hash for r in rule_set.rules},
            "errors": [e.model_dump() for e in errors],
        },
    )
    return ReloadOut(rules=len(rule_set.rules), errors=errors, generation=generation)


def backtest(
    *,
    session: Session,
    rule_set: RuleSet,
    request: BacktestIn,
    policy: EventTimePolicy,
    budget_seconds: float | None = None,
) -> BacktestOut:
    """Run deployed (or candidate) rules over a past range; writes nothing. With
    ``budget_seconds`` the run (loading candidates included) stops there with a 422."""
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    if request.rules is None:
        rules: Sequence[Rule] = rule_set.rules
        errors = [error_out(e, directory=rule_set.directory) for e in rule_set.errors]
    else:
        texts = [request.rules] if isinstance(request.rules, str) else request.rules
        candidates, load_errors = load_candidates(texts)
        errors = [error_out(e) for e in load_errors]
        if not candidates:
            raise InvalidRules("No candidate rule loaded", errors=[e.model_dump() for e in errors])
        rules = candidates
    result = run_backtest(
        session=session,
        rules=rules,
        since=request.since,
        until=request.until,
        from_seq=request.from_seq,
        to_seq=request.to_seq,
        policy=policy,
        deadline=deadline,
    )
    return BacktestOut(
        incidents=[would_open(f) for f in result.incidents],
        rules=len(rules),
        errors=errors,
        events=result.events,
        firings=result.firings,
        first_seq=result.first_seq,
        last_seq=result.last_seq,
        truncated=result.truncated,
    )


def would_open(firing: Firing) -> WouldOpen:
    return WouldOpen(
        rule_id=firing.rule_id,
        rule_hash=firing.rule_hash,
        title=firing.title,
        severity=str(firing.severity),
        tags=list(firing.tags),
        runbook_id=firing.runbook,
        group=dict(firing.group),
        dedup_key=firing.dedup_key,
        evidence_seqs=list(firing.evidence),
        event_count=len(firing.evidence),
        first_seen=firing.first_seen.astimezone(UTC),
        last_seen=firing.last_seen.astimezone(UTC),
    )
