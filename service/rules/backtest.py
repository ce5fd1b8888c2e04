"""Backtests: deployed or candidate rules over a past range of the log, no side effects.

The range is a seq range, a time range, or both. Events are fed in seq order like the
live runner sees them. Before the range the engine is warmed (no firings) exactly as a
restarting runner would be: events before `from_seq` per `Engine.max_window`, and events
up to `max_window` of event time before `since`. Firings merge by dedup key, as the
incidents layer would while an incident is open; closing an incident (which would start
a new one) cannot happen in a backtest.

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
from service.rules.loader import load_rule_files
from service.rules.logread import newest_time, stream_events
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
    max_events: int = MAX_EVENTS,
    deadline: float | None = None,
) -> BacktestResult:
    engine = Engine(rules, lateness=lateness)
    budget = _Budget(deadline)
    window = engine.max_window()
    start = max(from_seq or 1, 1)
    if start > 1:
        newest = newest_time(session=session, to_seq=start - 1)
        if newest is not None:
            floor = newest - window
            if since is not None:
                floor = max(floor, since - window)
            for event in stream_events(session=session, to_seq=start - 1, since=floor):
                budget.check(event, 0)
                engine.warm(event)
    warm_before = format_time(since) if since is not None else None
    firings: list[Firing] = []
    count = 0
    first: int | None = None
    last: int | None = None
    truncated = False
    for event in stream_events(
        session=session,
        after_seq=start - 1,
        to_seq=to_seq,
        since=since - window if since is not None else None,
        until=until,
    ):
        budget.check(event, count)
        if warm_before is not None and event["time"] < warm_before:
            engine.warm(event)
            continue
        if count >= max_events:
            truncated = True
            break
        firings.extend(engine.process(event))
        count += 1
        first = first if first is not None else int(event["seq"])
        last = int(event["seq"])
    return BacktestResult(
        incidents=merge_firings(firings),
        firings=len(firings),
        events=count,
        first_seq=first,
        last_seq=last,
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
