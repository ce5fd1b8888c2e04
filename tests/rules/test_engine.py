"""Correlation semantics: windows, order, aliases, chaining, lateness, restart, first-seen."""

from __future__ import annotations

import textwrap
import uuid
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.rules import Engine, Firing, InMemorySeenStore, Rule, dedup_key
from service.rules.timeutil import from_us, to_us
from tests.rules.conftest import LoadText, event, rule_yaml


def base(name: str, action: str, extra: str = "") -> str:
    return rule_yaml(f"sel: {{action: {action}}}\ncondition: sel", name=name, extra=extra)


def corr(
    name: str,
    ctype: str,
    rules: str,
    *,
    span: str = "5m",
    cond: str = "",
    group: str = "[actor.id]",
    extra: str = "",
) -> str:
    text = f"""\
        title: {name}
        id: {uuid.uuid4()}
        name: {name}
        level: high
        correlation:
          type: {ctype}
          rules: {rules}
          group-by: {group}
          timespan: {span}
        """
    text = textwrap.dedent(text)
    if cond:
        text += f"  condition: {cond}\n"
    return text + textwrap.indent(textwrap.dedent(extra), "  ")  # extra keys of `correlation:`


def fired(engine: Engine, events: list[dict[str, Any]], name: str) -> list[Firing]:
    wanted = {r.id for r in engine.rules.values() if r.name == name}
    return [f for ev in events for f in engine.process(ev) if f.rule_id in wanted]


def burst_rules(load_text: LoadText, cond: str = "{gte: 3}", span: str = "5m") -> list[Rule]:
    return load_text(
        base("b", "x") + "---\n" + corr("c", "event_count", "[b]", span=span, cond=cond)
    )


def test_event_count_in_order(load_text: LoadText):
    engine = Engine(burst_rules(load_text))
    events = [event(i, i * 10, "x", actor="a") for i in range(1, 5)]
    got = fired(engine, events, "c")
    assert [f.evidence for f in got] == [(1, 2, 3), (4,)]  # later firings add new evidence only
    assert got[0].group == {"actor.id": "a"}
    assert got[0].dedup_key == got[1].dedup_key == dedup_key(got[0].rule_id, {"actor.id": "a"})


def test_event_count_out_of_order(load_text: LoadText):
    engine = Engine(burst_rules(load_text))
    events = [
        event(1, 30, "x", actor="a"),
        event(2, 10, "x", actor="a"),
        event(3, 20, "x", actor="a"),
    ]
    (firing,) = fired(engine, events, "c")
    assert firing.evidence == (1, 2, 3)
    assert firing.first_seen.second == 10 and firing.last_seen.second == 30


def test_window_edge_exactly_timespan_is_inside(load_text: LoadText):
    engine = Engine(burst_rules(load_text, span="1m"))
    events = [
        event(1, 0, "x", actor="a"),
        event(2, 30, "x", actor="a"),
        event(3, 60, "x", actor="a"),
    ]
    assert len(fired(engine, events, "c")) == 1


def test_window_edge_one_ms_past_is_outside(load_text: LoadText):
    engine = Engine(burst_rules(load_text, span="1m"))
    events = [
        event(1, 0, "x", actor="a"),
        event(2, 30, "x", actor="a"),
        event(3, 60.001, "x", actor="a"),
    ]
    assert fired(engine, events, "c") == []


def test_window_edge_out_of_order(load_text: LoadText):
    rules = burst_rules(load_text, span="1m")
    inside = [
        event(1, 60, "x", actor="a"),
        event(2, 30, "x", actor="a"),
        event(3, 0, "x", actor="a"),
    ]
    outside = [
        event(1, 60.001, "x", actor="a"),
        event(2, 30, "x", actor="a"),
        event(3, 0, "x", actor="a"),
    ]
    assert len(fired(Engine(rules), inside, "c")) == 1
    assert fired(Engine(rules), outside, "c") == []


def test_groups_and_missing_group_values(load_text: LoadText):
    engine = Engine(burst_rules(load_text))
    events = [
        event(1, 0, "x", actor="a"),
        event(2, 1, "x", actor="b"),
        event(3, 2, "x"),
        event(4, 3, "x", actor={"type": "user"}),
        event(5, 4, "x", actor="a"),
    ]
    assert fired(engine, events, "c") == []


def test_value_count(load_text: LoadText):
    rules = load_text(
        base("dl", "dl")
        + "---\n"
        + corr("many", "value_count", "[dl]", cond="{field: resource.id, gte: 3}")
    )
    same = [event(i, i, "dl", actor="a", resource="m1") for i in range(1, 6)]
    assert fired(Engine(rules), same, "many") == []
    distinct = [
        event(1, 9, "dl", actor="a", resource="m1"),
        event(2, 1, "dl", actor="a", resource="m1"),
        event(3, 5, "dl", actor="a", resource="m2"),
        event(4, 3, "dl", actor="a", resource="m3"),
    ]
    (firing,) = fired(Engine(rules), distinct, "many")
    assert firing.evidence == (1, 2, 3, 4)


def two_step(load_text: LoadText, ctype: str, span: str = "5m") -> list[Rule]:
    return load_text(
        base("a", "a") + "---\n" + base("b", "b") + "---\n" + corr("ab", ctype, "[a, b]", span=span)
    )


def test_temporal_any_order(load_text: LoadText):
    rules = two_step(load_text, "temporal")
    for times in ((0, 10), (10, 0)):
        events = [event(1, times[0], "a", actor="u"), event(2, times[1], "b", actor="u")]
        assert len(fired(Engine(rules), events, "ab")) == 1
    apart = [event(1, 0, "a", actor="u"), event(2, 301, "b", actor="u")]
    assert fired(Engine(rules), apart, "ab") == []


def test_temporal_ordered(load_text: LoadText):
    rules = two_step(load_text, "temporal_ordered")
    in_order = [event(1, 0, "a", actor="u"), event(2, 10, "b", actor="u")]
    late_arrival = [event(1, 10, "b", actor="u"), event(2, 0, "a", actor="u")]  # a happened first
    wrong_order = [event(1, 0, "b", actor="u"), event(2, 10, "a", actor="u")]
    assert len(fired(Engine(rules), in_order, "ab")) == 1
    assert len(fired(Engine(rules), late_arrival, "ab")) == 1
    assert fired(Engine(rules), wrong_order, "ab") == []
    # A later "a" after a complete sequence does not take part, so no new firing.
    again = [*in_order, event(3, 20, "a", actor="u")]
    assert len(fired(Engine(rules), again, "ab")) == 1


def test_aliases_join_different_fields(load_text: LoadText):
    rules = load_text(
        base("grant", "model.permission.grant")
        + "---\n"
        + base("dl", "model.weights.download")
        + "---\n"
        + corr(
            "gd",
            "temporal_ordered",
            "[grant, dl]",
            group="[who, resource.id]",
            extra="""\
          aliases:
            who: {grant: attributes.grantee, dl: actor.id}
        """,
        )
    )
    events = [
        event(
            1,
            0,
            "model.permission.grant",
            actor="admin",
            resource="m",
            attributes={"grantee": "mallory"},
        ),
        event(2, 5, "model.weights.download", actor="admin", resource="m"),
        event(3, 9, "model.weights.download", actor="mallory", resource="m"),
    ]
    (firing,) = fired(Engine(rules), events, "gd")
    assert firing.group == {"who": "mallory", "resource.id": "m"}
    assert firing.evidence == (1, 3)


def chain(load_text: LoadText) -> list[Rule]:
    return load_text(
        base("fail", "auth.login.failure")
        + "---\n"
        + corr("burst", "event_count", "[fail]", span="10m", cond="{gte: 3}")
        + "---\n"
        + base("ok", "auth.login.success")
        + "---\n"
        + corr("then", "temporal_ordered", "[burst, ok]", span="30m")
    )


def test_correlation_of_correlation(load_text: LoadText):
    rules = chain(load_text)
    events = [event(i, i * 10, "auth.login.failure", actor="a") for i in range(1, 5)]
    events.append(event(5, 100, "auth.login.success", actor="a"))
    engine = Engine(rules)
    (firing,) = fired(engine, events, "then")
    assert firing.evidence == (1, 2, 3, 4, 5)
    assert firing.group == {"actor.id": "a"}
    names = {r.name: r for r in rules}
    assert not names["burst"].emits and names["then"].emits
    counts = engine.match_counts()
    assert counts[names["fail"].id] == 4 and counts[names["burst"].id] == 2
    success_first = [event(1, 0, "auth.login.success", actor="a")] + [
        event(i + 1, i * 10, "auth.login.failure", actor="a") for i in range(1, 5)
    ]
    assert fired(Engine(rules), success_first, "then") == []


def test_late_events_skip_correlations_but_not_detections(load_text: LoadText):
    rules = load_text(
        base("b", "x", extra="custom: {dedup: [actor.id]}\n")
        + "---\n"
        + corr("c", "event_count", "[b]", span="1h", cond="{gte: 2}", extra="generate: true\n")
    )
    engine = Engine(rules, lateness=timedelta(minutes=5))
    first = engine.process(event(1, 3600, "x", actor="a"))
    late = engine.process(event(2, 3600 - 301, "x", actor="a"))  # 5 min 1 s behind
    assert [f.title for f in first] == ["b"] and [f.title for f in late] == ["b"]
    assert engine.late_events == 1
    assert [f.title for f in engine.process(event(3, 3600 - 299, "x", actor="a"))] == ["b", "c"]


def test_state_is_evicted_behind_the_watermark(load_text: LoadText):
    engine = Engine(burst_rules(load_text, cond="{gte: 1000}"), lateness=timedelta(minutes=1))
    for i in range(1, 20001):
        engine.process(event(i, i * 10, "x", actor=f"user{i % 50}"))
    # Each actor's group keeps only what fits in timespan + lateness: 20000 events -> 50.
    assert engine.state_size() <= 50
    # Groups that go quiet are swept once the watermark has moved on.
    for i in range(20001, 25001):
        engine.process(event(i, 200000 + i, "x", actor="only"))
    assert engine.state_size() <= 361


def test_lt_condition_is_decided_when_the_window_closes(load_text: LoadText):
    rules = burst_rules(load_text, cond="{lt: 3}", span="1m")
    engine = Engine(rules, lateness=timedelta(seconds=30))
    quiet = [event(1, 0, "x", actor="a"), event(2, 10, "x", actor="a")]
    busy = [event(3, 0, "x", actor="b"), event(4, 5, "x", actor="b"), event(5, 10, "x", actor="b")]
    assert fired(engine, quiet + busy, "c") == []
    # Nothing fires until the watermark (max time - lateness) passes the window end.
    assert fired(engine, [event(6, 90, "y")], "c") == []
    (firing,) = fired(engine, [event(7, 90.001, "y")], "c")
    assert firing.group == {"actor.id": "a"} and firing.evidence == (1, 2)


def test_max_window_covers_chained_correlations(load_text: LoadText):
    engine = Engine(chain(load_text), lateness=timedelta(minutes=5))
    # then: 5m + 3 x 30m, plus burst: 5m + 3 x 10m
    assert engine.max_window() == timedelta(minutes=5 + 90 + 5 + 30)
    assert Engine([], lateness=timedelta(minutes=5)).max_window() == timedelta(0)


def first_seen_rules(load_text: LoadText) -> list[Rule]:
    return load_text(
        rule_yaml(
            "sel: {action: dl}\ncondition: sel",
            name="fs",
            extra="custom:\n  first_seen: {fields: [actor.id, resource.id], history: 30d}\n",
        )
    )


def test_first_seen_with_history_expiry(load_text: LoadText):
    rules = first_seen_rules(load_text)
    day = 86400
    engine = Engine(rules)
    assert len(engine.process(event(1, 0, "dl", actor="a", resource="m"))) == 1
    assert engine.process(event(2, 60, "dl", actor="a", resource="m")) == []
    assert len(engine.process(event(3, 60, "dl", actor="a", resource="other"))) == 1
    assert engine.process(event(4, 60 + 30 * day, "dl", actor="a", resource="m")) == []  # edge
    (firing,) = engine.process(event(5, 120 + 60 * day + 0.001, "dl", actor="a", resource="m"))
    assert firing.group == {"actor.id": "a", "resource.id": "m"}
    assert engine.process(event(6, 0, "dl", actor="b")) == []  # no resource: no key
    # An older event arriving after a newer sighting is not "new".
    assert engine.process(event(7, 50 * day, "dl", actor="a", resource="m")) == []


def test_first_seen_store_survives_restart(load_text: LoadText):
    rules = first_seen_rules(load_text)
    store = InMemorySeenStore()
    Engine(rules, seen=store).process(event(1, 0, "dl", actor="a", resource="m"))
    assert Engine(rules, seen=store).process(event(2, 60, "dl", actor="a", resource="m")) == []


def key(firings: list[Firing]) -> list[tuple[Any, ...]]:
    return [(f.rule_id, f.dedup_key, f.evidence, f.first_seen, f.last_seen) for f in firings]


def restart_matches_uninterrupted(
    rules: list[Rule], events: list[dict[str, Any]], cut: int
) -> None:
    lateness = timedelta(minutes=2)
    store = InMemorySeenStore()
    straight = Engine(rules, lateness=lateness, seen=InMemorySeenStore())
    expected = [straight.process(ev) for ev in events][cut:]
    first = Engine(rules, lateness=lateness, seen=store)
    for ev in events[:cut]:
        first.process(ev)
    # Restart: a new engine warms from the stored log, then continues after the cursor.
    second = Engine(rules, lateness=lateness, seen=store)
    if cut:
        newest = max(ev["time"] for ev in events[:cut])
        horizon = Engine(rules, lateness=lateness).max_window()
        since = from_us(to_us(newest)) - horizon
        for ev in events[:cut]:
            if from_us(to_us(ev["time"])) >= since:
                second.warm(ev)
    got = [second.process(ev) for ev in events[cut:]]
    assert [key(f) for f in got] == [key(f) for f in expected]


def pack_like(load_text: LoadText) -> list[Rule]:
    return load_text(
        base("fail", "auth.login.failure")
        + "---\n"
        + corr(
            "burst", "event_count", "[fail]", span="1m", cond="{gte: 3}", extra="generate: true\n"
        )
        + "---\n"
        + base("ok", "auth.login.success")
        + "---\n"
        + corr("then", "temporal_ordered", "[burst, ok]", span="2m")
        + "---\n"
        + corr("distinct", "value_count", "[fail]", span="1m", cond="{field: actor.ip, gte: 2}")
        + "---\n"
        + corr("both", "temporal", "[fail, ok]", span="30s"),
        rule_yaml(
            "sel: {action: auth.login.success}\ncondition: sel",
            name="fs",
            extra="custom:\n  first_seen: {fields: [actor.id, actor.ip], history: 1h}\n",
        ),
    )


def test_restart_mid_window_gives_the_same_firings(load_text: LoadText):
    rules = pack_like(load_text)
    events = []
    for i in range(1, 41):
        action = "auth.login.success" if i % 5 == 0 else "auth.login.failure"
        actor = {"id": f"u{i % 2}", "ip": f"10.0.0.{i % 4}"}
        events.append(event(i, i * 7 - (i % 3) * 20, action, actor=actor))
    for cut in (0, 5, 13, 20, 33, 40):
        restart_matches_uninterrupted(rules, events, cut)


EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["auth.login.failure", "auth.login.success"]),
        st.integers(0, 1),  # actor
        st.integers(0, 2),  # ip
        st.integers(-90, 60),  # seconds of jitter against arrival order
    ),
    min_size=1,
    max_size=40,
)


# load_text only writes fresh files and loads them, so reusing it across examples is safe.
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spec=EVENTS, cut=st.integers(0, 40))
def test_restart_property(load_text: LoadText, spec: list[tuple[str, int, int, int]], cut: int):
    rules = pack_like(load_text)
    events = [
        {
            "seq": i,
            "time": event(i, i * 20 + jitter, action)["time"],
            "action": action,
            "actor": {"id": f"u{actor}", "ip": f"10.0.0.{ip}"},
        }
        for i, (action, actor, ip, jitter) in enumerate(spec, start=1)
    ]
    restart_matches_uninterrupted(rules, events, min(cut, len(events)))
