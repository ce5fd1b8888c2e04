"""Event time per source: delayed and backfilled sources, per-source lateness, clock skew,
windows over several sources, idleness, late counts, snapshots."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from service.rules import Engine, Firing, Rule
from service.rules import snapshot as snap
from service.rules.eventtime import EventTimePolicy
from tests.rules.conftest import LoadText, at
from tests.rules.test_engine import base, corr

MIN = 60.0


def ev(seq: int, t: float, action: str, source: str, recv: float, **fields: Any) -> dict[str, Any]:
    """A stored event of `source` dated `t`, received at `recv` (seconds after T0)."""
    out: dict[str, Any] = {
        "seq": seq,
        "time": at(t),
        "received_at": at(recv),
        "source": source,
        "action": action,
        "actor": {"id": fields.pop("actor", "u")},
    }
    out.update(fields)
    return out


def names(engine: Engine, firings: list[Firing]) -> list[str]:
    return [engine.rules[f.rule_id].name for f in firings]


def run(engine: Engine, events: list[dict[str, Any]]) -> list[str]:
    return [n for e in events for n in names(engine, engine.process(e))]


def pair_rules(load_text: LoadText, **kw: str) -> list[Rule]:
    """a then b (same actor, 10 min): the shape of the LLMjacking correlation."""
    return load_text(
        base("a", "a")
        + "---\n"
        + base("b", "b")
        + "---\n"
        + corr("ab", "temporal_ordered", "[a, b]", span="10m", **kw)
    )


def test_delayed_source_correlates_among_its_own_events(load_text: LoadText):
    """A source delivering 15 minutes late, interleaved with a real-time source, fires
    exactly as it would have live; one global watermark made it all 'late'."""
    engine = Engine(pair_rules(load_text))
    events = []
    seq = 0
    for minute in range(40):
        now = 1000 + minute * MIN
        seq += 1
        events.append(ev(seq, now, "noise", "gateway", now))  # real time
        if minute == 20:
            seq += 1
            events.append(ev(seq, now - 15 * MIN, "a", "aws.cloudtrail", now, actor="eve"))
        if minute == 22:
            seq += 1
            events.append(ev(seq, now - 15 * MIN, "b", "aws.cloudtrail", now, actor="eve"))
    assert run(engine, events) == ["ab"]
    assert engine.late_events == 0


def test_backfill_of_thirty_days_correlates(load_text: LoadText):
    engine = Engine(pair_rules(load_text))
    day = 86400.0
    live = [ev(1, 40 * day, "noise", "gateway", 40 * day)]
    backfill = []
    for i in range(30):  # one a-then-b pair a day, 30 days back, all arriving now
        t = 10 * day + i * day
        backfill += [
            ev(2 + 2 * i, t, "a", "archive", 40 * day + i, actor=f"user{i}"),
            ev(3 + 2 * i, t + 60, "b", "archive", 40 * day + i, actor=f"user{i}"),
        ]
    assert run(engine, live + backfill) == ["ab"] * 30


def test_lateness_is_judged_per_source_and_configurable(load_text: LoadText):
    def late_after(policy: EventTimePolicy) -> int:
        engine = Engine(pair_rules(load_text), policy=policy)
        run(
            engine,
            [
                ev(1, 3600, "a", "aws.cloudtrail", 3600, actor="x"),
                ev(2, 3600 - 10 * MIN, "a", "aws.cloudtrail", 3600, actor="y"),  # 10 min behind
                ev(3, 9000, "a", "gateway", 9000, actor="z"),  # another source, far ahead
            ],
        )
        return engine.late_events

    assert late_after(EventTimePolicy()) == 1
    twenty = {"aws.cloudtrail": timedelta(minutes=20)}
    assert late_after(EventTimePolicy(source_lateness=twenty)) == 0


def test_future_event_is_correlated_at_arrival_and_moves_no_watermark(load_text: LoadText):
    rules = load_text(
        base("b", "x") + "---\n" + corr("burst", "event_count", "[b]", cond="{gte: 3}")
    )
    engine = Engine(rules)
    bogus = {**ev(1, 0, "x", "hostile", 100, actor="m"), "time": "9999-12-31T23:59:59Z"}
    assert run(engine, [bogus]) == []
    clock = engine.clocks.sources["hostile"]
    assert clock.skewed == 1 and clock.max_t is not None
    assert clock.max_t <= engine.clocks.sources["hostile"].last_arrival  # at received_at
    # Another source's burst, dated before the bogus event: it still opens.
    burst = [ev(2 + i, 50 + i, "x", "gateway", 110 + i, actor="mallory") for i in range(3)]
    assert run(engine, burst) == ["burst"]
    assert engine.late_events == 0 and engine.skewed_events == 1


def test_future_event_from_the_same_source_cannot_make_its_later_events_late(
    load_text: LoadText,
):
    engine = Engine(pair_rules(load_text))
    bogus = {**ev(1, 0, "a", "gw", 100, actor="m"), "time": "9999-12-31T23:59:59Z"}
    real = [ev(2, 100, "a", "gw", 101, actor="eve"), ev(3, 160, "b", "gw", 161, actor="eve")]
    assert run(engine, [bogus, *real]) == ["ab"]


def lt_rules(load_text: LoadText) -> list[Rule]:
    return load_text(
        base("b", "x") + "---\n" + corr("quiet", "event_count", "[b]", span="1m", cond="{lt: 3}")
    )


def test_window_over_two_sources_closes_when_both_watermarks_passed(load_text: LoadText):
    engine = Engine(lt_rules(load_text), lateness=timedelta(seconds=30))
    events = [
        ev(1, 0, "x", "fast", 0, actor="a"),
        ev(2, 5, "x", "slow", 5, actor="a"),
        ev(3, 300, "y", "fast", 10),  # fast's watermark is far past the window end
    ]
    assert run(engine, events) == []  # slow still holds it open
    assert run(engine, [ev(4, 100, "y", "slow", 11)]) == ["quiet"]


def test_idle_source_stops_holding_windows_open(load_text: LoadText):
    policy = EventTimePolicy(lateness=timedelta(seconds=30), idle_timeout=timedelta(minutes=5))
    engine = Engine(lt_rules(load_text), policy=policy)
    events = [
        ev(1, 0, "x", "fast", 0, actor="a"),
        ev(2, 5, "x", "slow", 5, actor="a"),
        ev(3, 200, "y", "fast", 200),
    ]
    assert run(engine, events) == []
    # Only "fast" keeps sending; once "slow" has been silent for 5 minutes of arrival
    # time, it no longer holds the window.
    assert run(engine, [ev(4, 400, "y", "fast", 5 + 301)]) == ["quiet"]


def test_late_events_are_counted_per_source_and_rule(load_text: LoadText):
    engine = Engine(pair_rules(load_text))
    run(
        engine,
        [
            ev(1, 3600, "a", "gw", 3600),
            ev(2, 0, "a", "gw", 3601),
            ev(3, 10, "b", "gw", 3602),
            ev(4, 3600, "b", "other", 3603),
        ],
    )
    delta = engine.clocks.take_counts()
    (rule,) = [r.id for r in engine.rules.values() if r.name == "ab"]
    assert dict(delta.late) == {"gw": 2}
    assert dict(delta.late_by_rule) == {("gw", rule): 2}
    assert dict(delta.events) == {"gw": 3, "other": 1}
    assert engine.clocks.take_counts().late == {}  # taken once


def test_snapshot_restore_continues_like_an_uninterrupted_engine(load_text: LoadText):
    rules = load_text(
        base("a", "a")
        + "---\n"
        + base("b", "b")
        + "---\n"
        + corr("ab", "temporal_ordered", "[a, b]", span="10m")
        + "---\n"
        + corr("burst", "event_count", "[a]", span="5m", cond="{gte: 3}")
        + "---\n"
        + corr("quiet", "event_count", "[b]", span="1m", cond="{lt: 2}")
    )
    events = []
    for i in range(400):
        src = "s1" if i % 3 else "s2"
        t = i * 7.0 - (90 if src == "s2" else 0)
        events.append(ev(i + 1, t, "a" if i % 2 else "b", src, i * 7.0, actor=f"u{i % 5}"))
    straight = Engine(rules)
    want = [(f.rule_id, f.evidence) for e in events for f in straight.process(e)]
    by_name = {r.id: r.name for r in rules}
    assert {"ab", "burst", "quiet"} <= {by_name[rid] for rid, _ in want}
    for cut in (1, 137, 250):
        first = Engine(rules)
        got = [(f.rule_id, f.evidence) for e in events[:cut] for f in first.process(e)]
        body = snap.dump(first)
        second = Engine(rules)
        assert snap.fingerprint(second) == snap.fingerprint(first)
        snap.load(second, body)
        got += [(f.rule_id, f.evidence) for e in events[cut:] for f in second.process(e)]
        assert got == want
    assert snap.fingerprint(Engine(rules, lateness=timedelta(minutes=1))) != snap.fingerprint(
        straight
    )
