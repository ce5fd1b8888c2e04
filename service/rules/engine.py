"""In-memory correlation engine: events in (by seq), firings out.

Contract for callers (the worker, backtests, `custody rules test`):

* Feed events in `seq` order. Event time may be out of order and is tracked per source
  (`service.rules.eventtime`): an event more than its source's allowed lateness older
  than the newest event time of that source is still checked by detection rules but no
  longer joins correlation windows (counted per source and per rule). An event dated
  beyond its `received_at` plus the skew tolerance is correlated at `received_at`.
* Detection rules fire once per matching event; correlation rules as described in
  `service.rules.windows`. Firings carry a `dedup_key`; merging repeated firings into
  one open incident is the incidents layer's job.
* Restart: restore a `snapshot()` taken at seq S and `warm()` the events after S up to
  the cursor, or `warm()` from the start of the log; then `process()` from the cursor on.
  The firings after the cursor are then the ones an uninterrupted run would produce.
  First-seen rules rely on a persistent `SeenStore` instead of the rewind.
* A group-by field missing from a match (None) keeps that match out of the correlation;
  an absent actor is not a group of its own.
* Custody's extensions of detection rules keep their own bounded state, in the snapshot
  too: `custom.not_preceded_by` (`service.rules.absence`) and `custom.exceeds_previous`
  (`service.rules.previous`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import orjson

from service.rules.absence import Absence, Held
from service.rules.dispatch import vendor_index
from service.rules.eventtime import Clocks, EventTimePolicy, Observed, SourceClock, is_tick
from service.rules.fields import Getter, make_getter
from service.rules.model import Event, Firing, Predicate, Rule
from service.rules.previous import Previous, Value
from service.rules.seen import InMemorySeenStore, SeenStore
from service.rules.timeutil import from_us, span_us, to_us
from service.rules.windows import Hit, Key, Match, Window

_SWEEP_EVERY = 4096
_Candidates = tuple[tuple[Rule, Predicate], ...]


@dataclass(frozen=True, slots=True)
class _Consumer:
    """How one correlation reads matches of one rule it references."""

    rule: Rule
    window: Window
    ref: int
    key: tuple[Getter, ...]
    value: Getter | None


def dedup_key(rule_id: str, group: Mapping[str, Any]) -> str:
    """Stable across processes and restarts: hash of rule id and sorted group values."""
    return hashlib.sha256(_canonical([rule_id, sorted(group.items())]).encode()).hexdigest()


def _canonical(value: Any) -> str:
    # orjson is ~10x faster than json.dumps here; str() covers anything it cannot encode.
    return orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS).decode()


def _hashable(value: Any) -> Any:
    if isinstance(value, list | dict):
        return _canonical(value)
    return value


class Engine:
    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        lateness: timedelta = timedelta(minutes=5),
        seen: SeenStore | None = None,
        policy: EventTimePolicy | None = None,
    ) -> None:
        self.rules = {rule.id: rule for rule in rules}
        self.policy = policy if policy is not None else EventTimePolicy(lateness=lateness)
        self.lateness = self.policy.max_lateness()
        self.seen: SeenStore = seen if seen is not None else InMemorySeenStore()
        self.clocks = Clocks(self.policy)
        self.late_events = 0
        self.skewed_events = 0
        self._processed = 0
        self._matches: Counter[str] = Counter()
        self._windows = {r.id: Window(r.correlation) for r in rules if r.correlation is not None}
        self._closers = [(self.rules[rid], w) for rid, w in self._windows.items() if not w.eager]
        self._consumers = self._wire(rules)
        self._group_getters = {
            r.id: tuple((f, make_getter(f)) for f in _detection_group(r))
            for r in rules
            if r.predicate is not None
        }
        self._first_seen_getters = {
            r.id: tuple(make_getter(f) for f in r.first_seen.fields)
            for r in rules
            if r.first_seen is not None
        }
        self._any, self._by_action = self._index([r for r in rules if r.vendor_source is None])
        self._by_source = vendor_index(rules)
        grace = span_us(self.lateness)
        self._absences = {
            r.id: Absence(r.not_preceded_by, grace=grace)
            for r in rules
            if r.not_preceded_by is not None
        }
        self._remembered_by: dict[str, list[Absence]] = {}
        for r in rules:
            if r.not_preceded_by is not None:
                self._remembered_by.setdefault(r.not_preceded_by.rule, []).append(
                    self._absences[r.id]
                )
        self._previous = {
            r.id: Previous(r.exceeds_previous) for r in rules if r.exceeds_previous is not None
        }

    def _wire(self, rules: Sequence[Rule]) -> dict[str, list[_Consumer]]:
        consumers: dict[str, list[_Consumer]] = {}
        for rule in rules:
            corr = rule.correlation
            if corr is None:
                continue
            window = self._windows[rule.id]
            for ref, source_id in enumerate(window.ref_ids):
                from_corr = self.rules[source_id].correlation is not None
                getter: Callable[[str], Getter] = _dict_getter if from_corr else make_getter
                value_path = corr.value_paths.get(source_id)
                consumers.setdefault(source_id, []).append(
                    _Consumer(
                        rule=rule,
                        window=window,
                        ref=ref,
                        key=tuple(getter(p) for p in corr.group_paths[source_id]),
                        value=getter(value_path) if value_path else None,
                    )
                )
        return consumers

    @staticmethod
    def _index(rules: Sequence[Rule]) -> tuple[_Candidates, dict[str, _Candidates]]:
        """Rules to try per action; rules not pinned to actions are tried for every event."""
        anywhere: _Candidates = tuple(
            (r, r.predicate) for r in rules if r.predicate is not None and r.actions is None
        )
        by_action: dict[str, list[tuple[Rule, Predicate]]] = {}
        for rule in rules:
            if rule.dispatch is None:
                continue
            for action in rule.actions or ():
                by_action.setdefault(action, []).append((rule, rule.dispatch))
        return anywhere, {a: (*rs, *anywhere) for a, rs in by_action.items()}

    def max_window(self) -> timedelta:
        """How far back (in event time) a restart must `warm()` for exact rebuilding.

        Per correlation: lateness + 3 x timespan (a match's reported state depends on
        windows reaching one timespan further on each side), plus the rewind its
        referenced correlations need.
        """
        memo: dict[str, timedelta] = {}

        def need(rule: Rule) -> timedelta:
            extension = rule.not_preceded_by or rule.exceeds_previous
            if extension is not None:
                # The memory reaches `within` back; a held trigger waits one lateness.
                return 2 * self.lateness + extension.within
            if rule.correlation is None:
                return timedelta(0)
            if rule.id not in memo:
                children = [need(self.rules[r]) for r in rule.correlation.refs]
                memo[rule.id] = self.lateness + 3 * rule.correlation.timespan + max(children)
            return memo[rule.id]

        return max((need(r) for r in self.rules.values()), default=timedelta(0))

    def match_counts(self) -> dict[str, int]:
        """Events matched per detection rule, and firings per correlation rule."""
        return dict(self._matches)

    def state_size(self) -> int:
        """Matches held in correlation windows and extension memory (memory gauge)."""
        return (
            sum(w.size() for w in self._windows.values())
            + sum(a.size() for a in self._absences.values())
            + sum(p.size() for p in self._previous.values())
        )

    def seen_keys(self, events: Iterable[Event]) -> dict[str, set[str]]:
        """First-seen keys these events may look up (for `DbSeenStore.prefetch`)."""
        wanted: dict[str, set[str]] = {}
        if not self._first_seen_getters:
            return wanted
        for event in events:
            action = event.get("action")
            candidates = (
                self._by_action.get(action.lower(), self._any)
                if isinstance(action, str)
                else self._any
            )
            for rule, _ in candidates:
                getters = self._first_seen_getters.get(rule.id)
                if getters is None:
                    continue
                values = [get(event) for get in getters]
                if None not in values:
                    wanted.setdefault(rule.id, set()).add(_canonical(values))
        return wanted

    def warm(self, event: Event) -> None:
        """Rebuild state from an already-processed event without emitting firings."""
        self.process(event, emit=False)

    def next_due(self) -> int | None:
        """When the earliest held trigger may be decided (microseconds), if any."""
        dues = [a.held[0][0] for a in self._absences.values() if a.held]
        return min(dues) if dues else None

    def _tick(self, event: Event, emit: bool) -> list[Firing]:
        """A clock tick: processing time moves to its `received_at`; windows and held
        triggers that this decides are decided, as any event would decide them."""
        received = event.get("received_at")
        if received:
            self.clocks.advance(to_us(received))
        out: list[Firing] = []
        self._decide(out, emit)
        return out

    def _decide(self, out: list[Firing], emit: bool) -> None:
        combined = self.clocks.combined
        for closing_rule, window in self._closers:
            if window.sources:
                watermark = combined(window.sources.values())
                if watermark is not None:
                    for hit in window.close(watermark=watermark):
                        self._on_hit(closing_rule, hit, out, emit)
        for rule_id, absence in self._absences.items():
            for held in absence.decide(now=self.clocks.now):
                self._on_absent(self.rules[rule_id], held, out, emit)

    def process(self, event: Event, *, emit: bool = True) -> list[Firing]:
        if is_tick(event):
            return self._tick(event, emit)
        seen = self.clocks.observe(event)
        t = seen.t
        seq = int(event["seq"])
        if seen.skewed:
            self.skewed_events += 1
        out: list[Firing] = []
        self._decide(out, emit)
        late = seen.late
        excluded_from: list[str] = []
        sources = (seen.source,)
        action = event.get("action")
        candidates = (
            self._by_action.get(action.lower(), self._any) if isinstance(action, str) else self._any
        )
        source = event.get("source")
        vendor = self._by_source.get(source) if isinstance(source, str) else None
        if vendor is not None:
            candidates = (*candidates, *vendor.candidates(event))
        for rule, predicate in candidates:
            if not predicate(event):
                continue
            self._matches[rule.id] += 1
            for absence in self._remembered_by.get(rule.id, ()):
                absence.remember(event, t, seen.source)
            if rule.not_preceded_by is not None or rule.exceeds_previous is not None:
                if late:
                    excluded_from.append(rule.id)
                else:
                    self._extension(rule, event, seen, out, emit)
                continue
            if rule.first_seen is not None and not self._novel(rule, event, t):
                continue
            if emit and rule.emits:
                group = {f: get(event) for f, get in self._group_getters[rule.id]}
                out.append(self._firing(rule, group, (seq,), t, t))
            if rule.id in self._consumers:
                if late:
                    excluded_from.extend(c.rule.id for c in self._consumers[rule.id])
                else:
                    self._feed(rule.id, event, t, t, (seq,), sources, out, emit)
        if excluded_from:
            self.late_events += 1
            self.clocks.count_late(seen.source, dict.fromkeys(excluded_from))
        self._processed += 1
        if self._processed % _SWEEP_EVERY == 0:
            combined = self.clocks.combined
            for window in self._windows.values():
                window.sweep(watermark=combined(window.sources.values()))
            for absence in self._absences.values():
                absence.sweep(watermark=combined(absence.sources.values()))
            for previous in self._previous.values():
                previous.sweep(watermark=combined(previous.sources.values()))
        return out

    def _extension(
        self, rule: Rule, event: Event, seen: Observed, out: list[Firing], emit: bool
    ) -> None:
        """A match of a `not_preceded_by` rule (held for its decision) or of an
        `exceeds_previous` rule (compared with the previous value now)."""
        if rule.not_preceded_by is not None:
            group = {f: get(event) for f, get in self._group_getters[rule.id]}
            self._absences[rule.id].hold(event, seen.t, seen.arrival, seen.source, group)
            return
        found = self._previous[rule.id].observe(event, seen.t, seen.source)
        if found is None or not emit or not rule.emits:
            return
        before, now = found
        group = {f: get(event) for f, get in self._group_getters[rule.id]}
        firing = self._firing(rule, group, (before.seq, now.seq), before.t, now.t)
        out.append(_with_previous(firing, before, now))

    def _on_absent(self, rule: Rule, held: Held, out: list[Firing], emit: bool) -> None:
        if emit and rule.emits:
            out.append(self._firing(rule, held.group, (held.seq,), held.t, held.t))

    def _feed(
        self,
        source_id: str,
        source: Mapping[str, Any],
        t: int,
        first: int,
        evidence: tuple[int, ...],
        sources: Iterable[SourceClock],
        out: list[Firing],
        emit: bool,
    ) -> None:
        for consumer in self._consumers.get(source_id, ()):
            key: Key = tuple(_hashable(get(source)) for get in consumer.key)
            if None in key:
                continue
            value = _hashable(consumer.value(source)) if consumer.value is not None else None
            match = Match(t=t, ref=consumer.ref, value=value, first=first, evidence=evidence)
            window = consumer.window
            for clock in sources:
                if clock.name not in window.sources:
                    window.sources[clock.name] = clock
            hit = window.add(match, key, watermark=self.clocks.combined(window.sources.values()))
            if hit is not None:
                self._on_hit(consumer.rule, hit, out, emit)

    def _on_hit(self, rule: Rule, hit: Hit, out: list[Firing], emit: bool) -> None:
        assert rule.correlation is not None
        self._matches[rule.id] += 1
        group = dict(zip(rule.correlation.group_by, hit.key, strict=True))
        if emit and rule.emits:
            out.append(self._firing(rule, group, hit.evidence, hit.first, hit.last))
        if rule.id in self._consumers:
            upstream = tuple(self._windows[rule.id].sources.values())
            self._feed(rule.id, group, hit.last, hit.first, hit.evidence, upstream, out, emit)

    def _novel(self, rule: Rule, event: Event, t: int) -> bool:
        """First-seen: no sighting of these values within `history` (either side) of t."""
        assert rule.first_seen is not None
        values = [get(event) for get in self._first_seen_getters[rule.id]]
        if any(v is None for v in values):
            return False
        key = _canonical(values)
        at = from_us(t)
        last = self.seen.get_last_seen(rule.id, key)
        self.seen.set_last_seen(rule.id, key, at)
        return last is None or abs(at - last) > rule.first_seen.history

    def _firing(
        self,
        rule: Rule,
        group: dict[str, Any],
        evidence: tuple[int, ...],
        first: int,
        last: int,
    ) -> Firing:
        dedup_group = {k: group.get(k) for k in rule.dedup} if rule.dedup else group
        return Firing(
            rule_id=rule.id,
            rule_hash=rule.content_hash,
            title=rule.title,
            severity=rule.severity,
            tags=rule.tags,
            runbook=rule.runbook,
            group=group,
            dedup_key=dedup_key(rule.id, dedup_group),
            evidence=evidence,
            first_seen=from_us(first),
            last_seen=from_us(last),
            category=rule.category,
        )


def _detection_group(rule: Rule) -> tuple[str, ...]:
    """Group values reported for a detection firing: custom.dedup, else the fields of its
    extension (first-seen, not-preceded-by, exceeds-previous)."""
    if rule.dedup:
        return rule.dedup
    if rule.not_preceded_by is not None:
        spec = rule.not_preceded_by
        return (*spec.fields, *spec.optional_fields)
    if rule.exceeds_previous is not None:
        prev = rule.exceeds_previous
        return (*prev.series, *((prev.version,) if prev.version is not None else ()))
    return rule.first_seen.fields if rule.first_seen is not None else ()


def _with_previous(firing: Firing, before: Value, now: Value) -> Firing:
    """An exceeds-previous firing's group also says what was compared (the dedup key
    stays that of the group fields alone)."""
    group = {
        **firing.group,
        "previous.version": before.version,
        "previous.value": before.value,
        "value": now.value,
    }
    return replace(firing, group=group)


def _dict_getter(name: str) -> Getter:
    """Read a group-by value of a referenced correlation's firing (a flat dict)."""
    return lambda group: group.get(name)


def run_events(*, engine: Engine, events: Iterable[Event]) -> list[Firing]:
    """Process events in order and collect every firing (for backtests and benchmarks)."""
    firings: list[Firing] = []
    for event in events:
        firings.extend(engine.process(event))
    return firings
