"""Correlation windows keep running tallies instead of rescanning; they must agree with a
rescan whatever the arrival order, pruning and closing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from service.rules.windows import Match, _Group

ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("add"),
            st.integers(0, 100),
            st.sampled_from([None, "a", "b", "c", "d"]),
            st.integers(0, 2),
        ),
        st.tuples(st.just("prune"), st.integers(0, 100), st.none(), st.just(0)),
        st.tuples(st.just("drop"), st.integers(0, 5), st.none(), st.just(0)),
        st.tuples(st.just("ask"), st.integers(0, 100), st.none(), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_group_tallies_agree_with_a_rescan(steps: list[tuple[str, int, str | None, int]]) -> None:
    group = _Group()
    for op, t, value, ref in steps:
        if op == "add":
            group.insert(Match(t=t, ref=ref, value=value, first=t, evidence=(t,)))
        elif op == "prune":
            group.prune(t)
        elif op == "drop":
            group.drop_first(min(t, len(group.items)))
        assert group.distinct_since(t) == len(
            {m.value for m in group.items if m.t >= t and m.value is not None}
        )
        held = {m.ref for m in group.items}
        for refs in [(0,), (0, 1), (1, 2), (0, 1, 2)]:
            assert group.holds_refs(refs) == (set(refs) <= held)
