"""Backtests: deployed or candidate rules over a past range of the log, no side effects.

The range is a seq range, a time range, or both. Events are fed in seq order like the
live runner sees them, so per-source event time (watermarks, late, skew) evolves exactly
as it did live: a backtest by seq range, one by time range over the same events, and the
live run open the same incidents. Before the first selected event the engine is warmed
(no firings) as a restarting runner without a snapshot would be; events between the
first and the last selected one that fall outside a time range are fed too, without
firings, because the live engine saw them. Firings merge by dedup key, as the incidents
layer would while an incident is open; closing an incident (which would start a new one)
cannot happen in a backtest.

First-seen rules use a fresh in-memory store, so their history is what the warm-up and
the range show (not the live 30-day memory): a combination last seen before that
counts as new.

A ``deadline`` (``time.monotonic()`` value) bounds the run: checked before every event,
warm-up included, it stops the backtest with :class:`BacktestOverBudget`. Rule regexes
run on RE2, so one event costs time linear in its size and the check comes often enough.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from service.logformat import format_time
from service.rules.engine import Engine
from service.rules.errors import BacktestOverBudget
from service.rules.eventtime import EventTimePolicy
from service.rules.loader import load_rule_files
from service.rules.logread import first_seq_since, last_seq_before, replay_start, stream_events
from service.rules.merge import merge_firings
from service.rules.model import Firing, Rule, RuleLoadError

MAX_EVENTS = 2_000_000


@dataclass(frozen=True, slots=True)
class BacktestResult:
    incidents: list[Firing]  # one merged firing per would-be incident, in opening order
    firings: int
    events: int
    first_seq: int | None
    last_seq: int | None
    truncated: bool


def load_candidates(texts: Sequence[str]) -> tuple[list[Rule], list[RuleLoadError]]:
    """Load rule files given as YAML text (one text per file, `candidate-N.yml`)."""
    with tempfile.TemporaryDirectory(prefix="custody-rules-") as tmp:
        paths = []
        for number, text in enumerate(texts, start=1):
            path = Path(tmp) / f"candidate-{number}.yml"
            path.write_text(text)
            paths.append(path)
        rules, errors = load_rule_files(paths=paths)
    # Report the file names the caller knows, not the temporary directory.
    errors = [RuleLoadError(Path(e.path.name), e.message, e.field, e.rule) for e in errors]
    return rules, errors


def run_backtest(
    *,
    session: Session,
    rules: Sequence[Rule],
    since: datetime | None = None,
    until: datetime | None = None,
    from_seq: int | None = None,
    to_seq: int | None = None,
    lateness: timedelta = timedelta(minutes=5),
    policy: EventTimePolicy | None = None,
    max_events: int = MAX_EVENTS,
    deadline: float | None = None,
) -> BacktestResult:
    budget = _Budget(deadline)
    engine = Engine(rules, policy=policy if policy is not None else EventTimePolicy(lateness))
    start = max(from_seq or 1, 1)
    stop = to_seq
    if since is not None:
        first = first_seq_since(session=session, since=since)
        start = max(start, first if first is not None else 2**62)
    if until is not None:
        last = last_seq_before(session=session, until=until)
        stop = 0 if last is None else (last if stop is None else min(stop, last))
    firings: list[Firing] = []
    count = 0
    first_seen: int | None = None
    last_seen: int | None = None
    truncated = False
    if stop is None or start <= stop:
        after = replay_start(session=session, engine=engine, to_seq=start - 1)
        for event in stream_events(session=session, after_seq=after, to_seq=start - 1):
            budget.check(event, 0)
            engine.warm(event)
        low = format_time(since) if since is not None else None
        high = format_time(until) if until is not None else None
        for event in stream_events(session=session, after_seq=start - 1, to_seq=stop):
            budget.check(event, count)
            moment = event["time"]
            if (low is not None and moment < low) or (high is not None and moment >= high):
                engine.warm(event)  # outside the time range, but the live engine saw it
                continue
            if count >= max_events:
                truncated = True
                break
            firings.extend(engine.process(event))
            count += 1
            first_seen = first_seen if first_seen is not None else int(event["seq"])
            last_seen = int(event["seq"])
    return BacktestResult(
        incidents=merge_firings(firings),
        firings=len(firings),
        events=count,
        first_seq=first_seen,
        last_seq=last_seen,
        truncated=truncated,
    )


class _Budget:
    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline
        self.started = time.monotonic()

    def check(self, event: dict[str, Any], done: int) -> None:
        if self.deadline is None or time.monotonic() <= self.deadline:
            return
        spent = time.monotonic() - self.started
        message = (
            f"stopped after {spent:.1f} s at seq {event['seq']} ({done} events evaluated); "
            "narrow the range (from_seq/to_seq, since/until) or simplify the rules"
        )
        raise BacktestOverBudget(
            f"Backtest over its time budget: {message}",
            errors=[{"field": "rules", "message": message}],
            seq=int(event["seq"]),
            events=done,
        )
