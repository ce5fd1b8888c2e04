"""Event time per source: watermarks, allowed lateness, idleness and clock skew.

The model of Apache Flink and Beam, with arrival (`received_at`) as processing time so
that a replay of the log in seq order makes exactly the decisions the live run made:

* Each source has a watermark: the newest event time seen from it minus its allowed
  lateness. An event older than its own source's watermark is late: detection rules
  still see it, correlation windows do not (counted per source and per rule).
* A correlation window closes (or forgets old matches) when the watermark of every
  source that contributed to the rule has passed it: the minimum across those sources.
  A source whose last arrival is more than the idle timeout behind the newest arrival
  stops holding that minimum back.
* An event dated more than the skew tolerance ahead of its arrival is correlated at its
  arrival (and counted as skewed), so no clock, however wrong, moves a watermark beyond
  `received_at + tolerance`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from service.rules.timeutil import span_us, to_us


@dataclass(frozen=True, slots=True)
class EventTimePolicy:
    lateness: timedelta = timedelta(minutes=5)
    source_lateness: Mapping[str, timedelta] = field(default_factory=dict)
    idle_timeout: timedelta = timedelta(minutes=15)
    skew_tolerance: timedelta = timedelta(minutes=5)

    def lateness_for(self, source: str) -> timedelta:
        return self.source_lateness.get(source, self.lateness)

    def max_lateness(self) -> timedelta:
        return max([self.lateness, *self.source_lateness.values()])

    @classmethod
    def from_settings(cls, settings: Any) -> EventTimePolicy:
        return cls(
            lateness=timedelta(seconds=settings.rules_lateness_seconds),
            source_lateness={
                k: timedelta(seconds=v) for k, v in settings.rules_source_lateness_seconds.items()
            },
            idle_timeout=timedelta(seconds=settings.rules_idle_timeout_seconds),
            skew_tolerance=timedelta(seconds=settings.rules_clock_skew_seconds),
        )


@dataclass(slots=True)
class SourceClock:
    name: str
    lateness: int  # microseconds
    max_t: int | None = None  # newest (effective) event time
    last_arrival: int | None = None  # newest received_at
    events: int = 0
    late: int = 0
    skewed: int = 0

    @property
    def watermark(self) -> int | None:
        return None if self.max_t is None else self.max_t - self.lateness


@dataclass(slots=True)
class Observed:
    """What the clocks made of one event."""

    source: SourceClock
    t: int  # the time the event is correlated at
    late: bool
    skewed: bool
    arrival: int = 0  # its received_at (its time when it has none)


# Custody's own records are not correlated (see `service.rules.logread`), except the
# runner's clock ticks, which only move processing time (`Clocks.now`) forward.
INTERNAL_SOURCE = "custody"
TICK_ACTION = "rules.tick"


def is_tick(event: Mapping[str, Any]) -> bool:
    return event.get("action") == TICK_ACTION and event.get("source") == INTERNAL_SOURCE


class Clocks:
    """Per-source clocks and the arrival clock (newest received_at seen)."""

    def __init__(self, policy: EventTimePolicy) -> None:
        self.policy = policy
        self.sources: dict[str, SourceClock] = {}
        self.now: int | None = None  # newest arrival: the processing-time clock
        self._idle = span_us(policy.idle_timeout)
        self._skew = span_us(policy.skew_tolerance)
        # Counted since the last `take_counts()`: per source, and per (source, rule).
        self.new_events: Counter[str] = Counter()
        self.new_late: Counter[str] = Counter()
        self.new_skewed: Counter[str] = Counter()
        self.new_late_by_rule: Counter[tuple[str, str]] = Counter()

    def clock(self, name: str) -> SourceClock:
        found = self.sources.get(name)
        if found is None:
            lateness = span_us(self.policy.lateness_for(name))
            found = self.sources[name] = SourceClock(name=name, lateness=lateness)
        return found

    def observe(self, event: Mapping[str, Any]) -> Observed:
        source = self.clock(str(event.get("source") or ""))
        t = to_us(event["time"])
        received = event.get("received_at")
        arrival = to_us(received) if received else t
        skewed = received is not None and t > arrival + self._skew
        if skewed:
            t = arrival
            source.skewed += 1
            self.new_skewed[source.name] += 1
        if self.now is None or arrival > self.now:
            self.now = arrival
        if source.last_arrival is None or arrival > source.last_arrival:
            source.last_arrival = arrival
        source.events += 1
        self.new_events[source.name] += 1
        if source.max_t is None or t > source.max_t:
            source.max_t = t
        late = t < source.max_t - source.lateness
        return Observed(source=source, t=t, late=late, skewed=skewed, arrival=arrival)

    def advance(self, arrival: int) -> None:
        """Processing time moves to `arrival` (a tick): no source's clock changes."""
        if self.now is None or arrival > self.now:
            self.now = arrival

    def count_late(self, source: SourceClock, rules: Iterable[str]) -> None:
        source.late += 1
        self.new_late[source.name] += 1
        for rule_id in rules:
            self.new_late_by_rule[(source.name, rule_id)] += 1

    def idle(self, source: SourceClock) -> bool:
        return (
            self.now is not None
            and source.last_arrival is not None
            and source.last_arrival < self.now - self._idle
        )

    def combined(self, sources: Iterable[SourceClock]) -> int | None:
        """Watermark of a window fed by `sources`: the minimum over the active ones (the
        maximum if every one is idle, so an all-quiet window still closes)."""
        active: int | None = None
        quiet: int | None = None
        for s in sources:
            wm = s.watermark
            if wm is None:
                continue
            if self.idle(s):
                quiet = wm if quiet is None or wm > quiet else quiet
            else:
                active = wm if active is None or wm < active else active
        return active if active is not None else quiet

    def take_counts(self) -> CountDelta:
        delta = CountDelta(
            events=self.new_events,
            late=self.new_late,
            skewed=self.new_skewed,
            late_by_rule=self.new_late_by_rule,
        )
        self.new_events = Counter()
        self.new_late = Counter()
        self.new_skewed = Counter()
        self.new_late_by_rule = Counter()
        return delta


@dataclass(frozen=True, slots=True)
class CountDelta:
    events: Counter[str]
    late: Counter[str]
    skewed: Counter[str]
    late_by_rule: Counter[tuple[str, str]]
