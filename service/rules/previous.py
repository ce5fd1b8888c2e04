"""`custom.exceeds_previous`: a detection rule that fires when a number on the matching
event is at least `by` above the previous value of its series. Example: the failure rate
of an adversarial evaluation of a model version against the previous evaluated version
of the same model, with the same tool and task.

Semantics, on event time:

* Series: the `series` field values; a missing value is a value of its own (evaluations
  without a task compare with each other). With `version`, an event without a version is
  ignored, and "previous" is the newest remembered value of *another* version dated no
  later than the event and no earlier than `within` before it; without `version`, the
  newest remembered value of the series dated no later than the event.
* Memory per series: the latest value (by event time) of the two most recently evaluated
  versions (one entry without `version`), so a version is compared with the one before
  it, and re-evaluating a version compares it with its predecessor again.
* Each match is compared when it arrives, then remembered (an older value of the same
  version does not replace a newer one). A match older than its source's watermark is
  late: neither compared nor remembered (counted as late, like a correlation), so an
  uninterrupted run, a restart and a backtest agree. A value that is not a number is
  ignored.

Memory older than the watermark of the rule's sources minus `within` is dropped by
`sweep`; the state is in the engine snapshot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson

from service.rules.eventtime import SourceClock
from service.rules.fields import make_getter
from service.rules.model import Event, ExceedsPrevious
from service.rules.timeutil import span_us

Key = tuple[Any, ...]
KEEP = 2  # versions remembered per series: the current one and the one before it
# Failure rates are decimals: 0.3 - 0.2 is 0.09999999999999998, which is "+0.1".
_EPSILON = 1e-9


@dataclass(slots=True)
class Value:
    version: Any
    t: int
    value: float
    seq: int


class Previous:
    def __init__(self, spec: ExceedsPrevious) -> None:
        self.by = spec.by
        self.within = span_us(spec.within)
        self.versioned = spec.version is not None
        self._series = tuple(make_getter(f) for f in spec.series)
        self._version = make_getter(spec.version) if spec.version is not None else None
        self._value = make_getter(spec.value)
        self.memory: dict[Key, list[Value]] = {}  # newest first
        self.sources: dict[str, SourceClock] = {}

    def observe(self, event: Event, t: int, source: SourceClock) -> tuple[Value, Value] | None:
        """Compare, then remember; (previous, current) when the rise is at least `by`."""
        number = self._value(event)
        if isinstance(number, bool) or not isinstance(number, int | float):
            return None
        if not math.isfinite(number):
            return None
        version = _hashable(self._version(event)) if self._version is not None else None
        if self.versioned and version is None:
            return None
        self.sources.setdefault(source.name, source)
        key = tuple(_hashable(get(event)) for get in self._series)
        current = Value(version=version, t=t, value=float(number), seq=int(event["seq"]))
        entries = self.memory.setdefault(key, [])
        before = next(
            (
                e
                for e in entries
                if (not self.versioned or e.version != version) and t - self.within <= e.t <= t
            ),
            None,
        )
        own = next((e for e in entries if e.version == version), None)
        if own is None:
            entries.append(current)
        elif t >= own.t:
            own.t, own.value, own.seq = t, current.value, current.seq
        entries.sort(key=lambda e: e.t, reverse=True)  # stable: ties keep arrival order
        del entries[KEEP if self.versioned else 1 :]
        if before is not None and current.value - before.value >= self.by - _EPSILON:
            return before, current
        return None

    def sweep(self, *, watermark: int | None) -> None:
        if watermark is None:
            return
        horizon = watermark - self.within
        for key in list(self.memory):
            kept = [e for e in self.memory[key] if e.t >= horizon]
            if kept:
                self.memory[key] = kept
            else:
                del self.memory[key]

    def size(self) -> int:
        return sum(len(v) for v in self.memory.values())

    def dump(self) -> dict[str, Any]:
        return {
            "sources": list(self.sources),
            "memory": [
                [list(key), [[e.version, e.t, e.value, e.seq] for e in entries]]
                for key, entries in self.memory.items()
            ],
        }

    def load(self, data: dict[str, Any], sources: dict[str, SourceClock]) -> None:
        self.sources = {n: sources[n] for n in data["sources"] if n in sources}
        self.memory = {
            tuple(key): [Value(*entry) for entry in entries] for key, entries in data["memory"]
        }


def _hashable(value: Any) -> Any:
    if isinstance(value, list | dict):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return value
