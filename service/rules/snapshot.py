"""Engine state as bytes, so a restarting runner resumes instead of replaying the log.

The snapshot holds the source clocks, every correlation window (matches, what no firing
has reported yet, pending closes) and the memory of the detection-rule extensions
(`not_preceded_by`: latest times and held triggers; `exceeds_previous`: previous values).
It is plain data (orjson, zlib): restoring it never runs
code from the database. `fingerprint` ties it to the rules and event-time settings.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import zlib
from typing import Any

import orjson

from service.rules.engine import Engine
from service.rules.eventtime import SourceClock
from service.rules.windows import Match, Window, _Group

VERSION = 2


def fingerprint(engine: Engine) -> str:
    policy = engine.policy
    parts = [
        f"v{VERSION}",
        *sorted(f"{r.id}:{r.content_hash}" for r in engine.rules.values()),
        f"lateness={policy.lateness.total_seconds()}",
        *sorted(f"{k}={v.total_seconds()}" for k, v in policy.source_lateness.items()),
        f"idle={policy.idle_timeout.total_seconds()}",
        f"skew={policy.skew_tolerance.total_seconds()}",
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def dump(engine: Engine) -> bytes:
    clocks = engine.clocks
    data = {
        "now": clocks.now,
        "sources": [
            [s.name, s.lateness, s.max_t, s.last_arrival, s.events, s.late, s.skewed]
            for s in clocks.sources.values()
        ],
        "late": engine.late_events,
        "skewed": engine.skewed_events,
        "processed": engine._processed,
        "matches": dict(engine._matches),
        "windows": {rid: _window(w) for rid, w in engine._windows.items()},
        "absence": {rid: a.dump() for rid, a in engine._absences.items()},
        "previous": {rid: p.dump() for rid, p in engine._previous.items()},
    }
    return zlib.compress(orjson.dumps(data), 1)


def _window(window: Window) -> dict[str, Any]:
    groups = []
    for key, group in window.groups.items():
        pending = {id(m) for m in group.pending}
        items = [[m.t, m.ref, m.value, m.first, m.evidence, id(m) in pending] for m in group.items]
        groups.append([list(key), group.anchor, items])
    return {
        "sources": list(window.sources),
        "groups": groups,
        "closing": [[end, list(key)] for end, _, key in sorted(window._closing)],
    }


def load(engine: Engine, body: bytes) -> None:
    """Restore a fresh engine (same rules and policy) to the state `dump` saw."""
    data = orjson.loads(zlib.decompress(body))
    clocks = engine.clocks
    clocks.now = data["now"]
    for name, lateness, max_t, arrival, events, late, skewed in data["sources"]:
        clocks.sources[name] = SourceClock(
            name=name,
            lateness=lateness,
            max_t=max_t,
            last_arrival=arrival,
            events=events,
            late=late,
            skewed=skewed,
        )
    engine.late_events = data["late"]
    engine.skewed_events = data["skewed"]
    engine._processed = data["processed"]
    engine._matches.clear()
    engine._matches.update(data["matches"])
    for rid, state in data["windows"].items():
        window = engine._windows.get(rid)
        if window is not None:
            _restore_window(window, state, clocks.sources)
    for rid, state in data["absence"].items():
        if rid in engine._absences:
            engine._absences[rid].load(state, clocks.sources)
    for rid, state in data["previous"].items():
        if rid in engine._previous:
            engine._previous[rid].load(state, clocks.sources)


def _restore_window(window: Window, state: dict[str, Any], sources: dict[str, SourceClock]) -> None:
    window.sources = {name: sources[name] for name in state["sources"] if name in sources}
    window.groups = {}
    for key, anchor, items in state["groups"]:
        group = _Group()
        group.anchor = anchor
        for t, ref, value, first, evidence, pending in items:
            match = Match(t=t, ref=ref, value=value, first=first, evidence=tuple(evidence))
            group.times.append(t)
            group.items.append(match)
            if pending:
                group.pending.append(match)
        window.groups[tuple(key)] = group
    tick = itertools.count()
    window._closing = [(end, next(tick), tuple(key)) for end, key in state["closing"]]
    heapq.heapify(window._closing)
    window._tick = tick
