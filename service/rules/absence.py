"""`custom.not_preceded_by`: a detection rule that fires on a match unless another rule
matched for the same fields shortly before (an absence, which Sigma correlations cannot
express). Example: a `model.deploy` with no `model.eval.adversarial` of that model in the
30 days before it.

Semantics, on event time with a processing-time decision:

* Memory: per group (`fields`, then `optional_fields` values) only the latest event time
  at which the referenced rule matched. Every match counts, late ones too: an evaluation
  is evidence however late it is shipped. `optional_fields` are compared only where both
  events carry a value (an evaluation that names no model version counts for every
  version, a deploy that names none is covered by an evaluation of any version).
* Trigger: a match of the rule itself is held, not decided, until an event arrives
  (`received_at`, any source) more than `grace` (the engine's lateness) after it did,
  so an evaluation shipped a little after the deploy still counts. It then fires unless
  the memory holds, for its group, a time no earlier than `within` before the trigger's
  event time. A time *after* the trigger counts as well: with only the latest time kept
  per group, an evaluation dated after the deploy hides the older ones, and the rule
  asks "was this version evaluated within `within` of its deploy, as far as the log knew
  when the deploy was judged".
* On a quiet log nothing would arrive to decide a held trigger: the live runner then
  appends a `rules.tick` record once the grace has passed by the wall clock
  (`RuleRunner._tick_if_due`); the engine moves processing time to its `received_at`.
* An evaluation that arrives after the deploy was judged changes nothing: the incident
  stays open for a responder to close.
* A trigger older than its own source's watermark is late and not judged (counted as
  late for the rule, like a correlation); a trigger missing a `fields` value is ignored.

Every decision depends only on the events in seq order (their time, source and
`received_at`), so a restart, a backtest and the live run agree. Memory older than the
watermark of the rule's sources minus `within` is dropped by `sweep`; the state is in
the engine snapshot.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import Any

import orjson

from service.rules.eventtime import SourceClock
from service.rules.fields import Getter, make_getter
from service.rules.model import Event, NotPrecededBy
from service.rules.timeutil import span_us

Key = tuple[Any, ...]


@dataclass(slots=True)
class Held:
    """A trigger waiting for its decision."""

    due: int  # decided by the first event arriving after this (microseconds)
    t: int
    key: Key
    optional: Key
    seq: int
    group: dict[str, Any]


class Absence:
    def __init__(self, spec: NotPrecededBy, *, grace: int) -> None:
        self.within = span_us(spec.within)
        self.grace = grace
        self.fields = spec.fields
        self.optional_fields = spec.optional_fields
        self._key = tuple(make_getter(f) for f in spec.fields)
        self._optional = tuple(make_getter(f) for f in spec.optional_fields)
        # fields values -> optional values -> latest time the referenced rule matched
        self.memory: dict[Key, dict[Key, int]] = {}
        self.held: list[tuple[int, int, Held]] = []  # heap on (due, tick)
        self.sources: dict[str, SourceClock] = {}
        self._tick = itertools.count()

    def _values(self, getters: tuple[Getter, ...], event: Event) -> Key:
        return tuple(_hashable(get(event)) for get in getters)

    def remember(self, event: Event, t: int, source: SourceClock) -> None:
        """A match of the referenced rule."""
        key = self._values(self._key, event)
        if None in key:
            return
        self.sources.setdefault(source.name, source)
        optional = self._values(self._optional, event)
        times = self.memory.setdefault(key, {})
        if optional not in times or times[optional] < t:
            times[optional] = t

    def hold(
        self, event: Event, t: int, arrival: int, source: SourceClock, group: dict[str, Any]
    ) -> None:
        """A match of the rule itself: decided once `grace` has passed in arrival time."""
        key = self._values(self._key, event)
        if None in key:
            return
        self.sources.setdefault(source.name, source)
        held = Held(
            due=arrival + self.grace,
            t=t,
            key=key,
            optional=self._values(self._optional, event),
            seq=int(event["seq"]),
            group=group,
        )
        heapq.heappush(self.held, (held.due, next(self._tick), held))

    def decide(self, *, now: int | None) -> list[Held]:
        """Held triggers whose grace is over and that nothing covers: they fire."""
        fired: list[Held] = []
        while self.held and now is not None and self.held[0][0] < now:
            _, _, held = heapq.heappop(self.held)
            if not self.covered(held):
                fired.append(held)
        return fired

    def covered(self, held: Held) -> bool:
        since = held.t - self.within
        for optional, latest in self.memory.get(held.key, {}).items():
            if latest >= since and _compatible(optional, held.optional):
                return True
        return False

    def sweep(self, *, watermark: int | None) -> None:
        """Forget what no trigger can still be covered by (see the module docstring)."""
        if watermark is None:
            return
        oldest = min([watermark, *(h.t for _, _, h in self.held)])
        horizon = oldest - self.within
        for key in list(self.memory):
            times = self.memory[key]
            for optional in [o for o, latest in times.items() if latest < horizon]:
                del times[optional]
            if not times:
                del self.memory[key]

    def size(self) -> int:
        return sum(len(t) for t in self.memory.values()) + len(self.held)

    def dump(self) -> dict[str, Any]:
        return {
            "sources": list(self.sources),
            "memory": [
                [list(key), list(optional), latest]
                for key, times in self.memory.items()
                for optional, latest in times.items()
            ],
            "held": [
                [h.due, h.t, list(h.key), list(h.optional), h.seq, list(h.group.items())]
                for _, _, h in sorted(self.held, key=lambda item: item[:2])
            ],
        }

    def load(self, data: dict[str, Any], sources: dict[str, SourceClock]) -> None:
        self.sources = {n: sources[n] for n in data["sources"] if n in sources}
        self.memory = {}
        for key, optional, latest in data["memory"]:
            self.memory.setdefault(tuple(key), {})[tuple(optional)] = latest
        self._tick = itertools.count()
        self.held = []
        for due, t, key, optional, seq, group in data["held"]:
            held = Held(due, t, tuple(key), tuple(optional), seq, dict(group))
            self.held.append((due, next(self._tick), held))
        heapq.heapify(self.held)


def _compatible(remembered: Key, wanted: Key) -> bool:
    return all(a is None or b is None or a == b for a, b in zip(remembered, wanted, strict=True))


def _hashable(value: Any) -> Any:
    # Lists and objects cannot be dict keys; a group value is compared as its JSON text.
    if isinstance(value, list | dict):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return value
