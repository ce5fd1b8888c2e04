"""Per-group match windows of one correlation rule, on event time.

Window convention: a window is the closed interval [start, start + timespan]; a match
exactly `timespan` after the first is inside, one microsecond later is outside.

gt/gte conditions (and the temporal types) are evaluated eagerly: when a match arrives,
the rule fires if some window containing that match satisfies the condition (for
temporal_ordered the new match must also take a place in the sequence). Every further
match that keeps the condition true fires again, carrying as evidence only the matches
no earlier firing reported, so a long burst yields one incident (same dedup key) with
growing evidence instead of one huge evidence list per event.

lt/lte/eq/neq can only be decided once a window is over: those rules use tumbling windows
that start at a group's first unconsumed match and are evaluated when the window's
watermark passes their end: the minimum of the watermarks of the sources that fed the rule
(`service.rules.eventtime`).
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Any

from service.rules.eventtime import SourceClock
from service.rules.model import Correlation, CorrelationType
from service.rules.timeutil import span_us

Key = tuple[Any, ...]


@dataclass(slots=True, eq=False)
class Match:
    t: int
    ref: int
    value: Any
    first: int
    evidence: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Hit:
    key: Key
    evidence: tuple[int, ...]
    first: int
    last: int


class _Group:
    __slots__ = ("_latest", "_refs", "anchor", "items", "pending", "times")

    def __init__(self) -> None:
        self.times: list[int] = []
        self.items: list[Match] = []
        self.pending: list[Match] = []  # matches no firing has reported yet
        self.anchor: int | None = None
        # value -> time of its newest match: a window reaching the newest match holds
        # exactly the values seen since its start, so value_count need not scan it (a
        # pipeline pulling weights keeps thousands of matches per hour in one group).
        self._latest: dict[Any, int] | None = None
        # ref -> matches held: a sequence missing one of its rules cannot complete, which
        # spares scanning a window of logins for a burst that never happened.
        self._refs: dict[int, int] | None = None

    def insert(self, match: Match) -> int:
        # bisect_right keeps arrival order among equal times: ties go to the earlier arrival.
        idx = bisect_right(self.times, match.t)
        self.times.insert(idx, match.t)
        self.items.insert(idx, match)
        latest = self._latest
        if latest is not None and latest.get(match.value, match.t) <= match.t:
            latest[match.value] = match.t
        if self._refs is not None:
            self._refs[match.ref] = self._refs.get(match.ref, 0) + 1
        return idx

    def prune(self, before: int) -> None:
        n = bisect_left(self.times, before)
        if n:
            if self._refs is not None:
                for m in self.items[:n]:
                    self._refs[m.ref] -= 1
            del self.times[:n]
            del self.items[:n]
            self.pending = [m for m in self.pending if m.t >= before]
            if self._latest is not None:
                self._latest = {v: t for v, t in self._latest.items() if t >= before}

    def drop_first(self, n: int) -> None:
        del self.times[:n]
        del self.items[:n]
        self._latest = None
        self._refs = None

    def holds_refs(self, refs: tuple[int, ...]) -> bool:
        """Is there at least one match of each of `refs`?"""
        if self._refs is None:
            self._refs = {}
            for m in self.items:
                self._refs[m.ref] = self._refs.get(m.ref, 0) + 1
        return all(self._refs.get(ref, 0) > 0 for ref in refs)

    def distinct_since(self, start: int) -> int:
        """Distinct non-null values among the matches at or after `start`."""
        if self._latest is None:
            self._latest = {}
            for m in self.items:
                self._latest[m.value] = m.t  # items are in time order
        return sum(1 for v, t in self._latest.items() if t >= start and v is not None)


class Window:
    def __init__(self, correlation: Correlation) -> None:
        self.span = span_us(correlation.timespan)
        # The sources whose matches (or upstream firings) fed this rule: their watermarks
        # decide when its windows are over.
        self.sources: dict[str, SourceClock] = {}
        self.ref_ids = tuple(dict.fromkeys(correlation.refs))
        index = {rid: i for i, rid in enumerate(self.ref_ids)}
        self.sequence = tuple(index[rid] for rid in correlation.refs)
        self.type = correlation.type
        self.op = correlation.op
        self.count = correlation.count
        self.eager = correlation.op.monotone
        self.groups: dict[Key, _Group] = {}
        self._closing: list[tuple[int, int, Key]] = []
        self._tick = itertools.count()

    def add(self, match: Match, key: Key, *, watermark: int | None) -> Hit | None:
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = _Group()
        if not self.eager:
            group.insert(match)
            if group.anchor is None or match.t < group.anchor:
                group.anchor = match.t
                heapq.heappush(self._closing, (match.t + self.span, next(self._tick), key))
            return None
        if watermark is not None:
            # Older matches can no longer share a window with an event that is not late.
            group.prune(watermark - self.span)
        idx = group.insert(match)
        group.pending.append(match)
        times = group.times
        first_start = bisect_left(times, match.t - self.span)
        if idx == len(times) - 1:
            # In order: the window ending at this match contains every other window that
            # could contain it, and the conditions are monotone, so one check suffices.
            starts: range = range(first_start, first_start + 1)
        else:
            starts = range(first_start, idx + 1)
        if self.type is CorrelationType.TEMPORAL_ORDERED and not group.holds_refs(self.sequence):
            return None
        for lo in starts:
            hi = bisect_right(times, times[lo] + self.span)
            if self.type is CorrelationType.VALUE_COUNT and hi == len(times):
                held = self.op.holds(group.distinct_since(times[lo]), self.count)
            else:
                held = self._holds(group.items, lo, hi, idx)
            if held:
                return self._report(group, key, times[lo], times[hi - 1])
        return None

    def close(self, *, watermark: int) -> list[Hit]:
        """Evaluate tumbling windows that ended before `watermark` (non-monotone rules)."""
        hits: list[Hit] = []
        while self._closing and self._closing[0][0] < watermark:
            end, _, key = heapq.heappop(self._closing)
            group = self.groups.get(key)
            if group is None or group.anchor is None or group.anchor + self.span != end:
                continue  # superseded by an earlier anchor
            hi = bisect_right(group.times, end)
            if self._holds(group.items, 0, hi, None):
                window = group.items[:hi]
                hits.append(_hit(key, window))
            group.drop_first(hi)
            if group.items:
                group.anchor = group.times[0]
                heapq.heappush(self._closing, (group.anchor + self.span, next(self._tick), key))
            else:
                del self.groups[key]
        return hits

    def sweep(self, *, watermark: int | None) -> None:
        """Drop state that can no longer matter (eager rules; tumbling ones clean on close)."""
        if not self.eager or watermark is None:
            return
        before = watermark - self.span
        for key in list(self.groups):
            group = self.groups[key]
            group.prune(before)
            if not group.items:
                del self.groups[key]

    def size(self) -> int:
        return sum(len(g.items) for g in self.groups.values())

    def _holds(self, items: list[Match], lo: int, hi: int, new: int | None) -> bool:
        kind = self.type
        if kind is CorrelationType.EVENT_COUNT:
            return self.op.holds(hi - lo, self.count)
        if kind is CorrelationType.VALUE_COUNT:
            values = {m.value for m in items[lo:hi] if m.value is not None}
            return self.op.holds(len(values), self.count)
        if kind is CorrelationType.TEMPORAL:
            present = {m.ref for m in items[lo:hi]}
            return self.op.holds(len(present), self.count)
        return new is not None and self._in_sequence(items, lo, hi, new)

    def _in_sequence(self, items: list[Match], lo: int, hi: int, new: int) -> bool:
        """Does the new match take some place in the ordered sequence within [lo, hi)?"""
        ref = items[new].ref
        seq = self.sequence
        for pos, wanted in enumerate(seq):
            if wanted != ref:
                continue
            if _subsequence(items, lo, new, seq[:pos]) and _subsequence(
                items, new + 1, hi, seq[pos + 1 :]
            ):
                return True
        return False

    def _report(self, group: _Group, key: Key, lo_t: int, hi_t: int) -> Hit:
        taken = [m for m in group.pending if lo_t <= m.t <= hi_t]
        group.pending = [m for m in group.pending if not lo_t <= m.t <= hi_t]
        return _hit(key, taken)


def _subsequence(items: list[Match], lo: int, hi: int, refs: tuple[int, ...]) -> bool:
    """Greedy: are `refs` found in this order among items[lo:hi]?"""
    if not refs:
        return True
    j = 0
    for k in range(lo, hi):
        if items[k].ref == refs[j]:
            j += 1
            if j == len(refs):
                return True
    return False


def _hit(key: Key, matches: list[Match]) -> Hit:
    evidence = sorted({seq for m in matches for seq in m.evidence})
    return Hit(
        key=key,
        evidence=tuple(evidence),
        first=min(m.first for m in matches),
        last=max(m.t for m in matches),
    )
