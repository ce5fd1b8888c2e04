"""Filters that keep attacker-shaped values inert in commands and Markdown."""

from __future__ import annotations

import shlex

from hypothesis import given
from hypothesis import strategies as st

from service.runbooks.filters import code, evidence_table, minus, plus, q, sh

TEXT = st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=40)


@given(TEXT)
def test_sh_always_yields_exactly_one_shell_word(value: str) -> None:
    assert shlex.split(sh(value)) == [value]


@given(TEXT)
def test_code_stays_one_inline_code_span(value: str) -> None:
    rendered = code(value)
    fence = rendered[: len(rendered) - len(rendered.lstrip("`"))]
    inner = rendered[len(fence) : -len(fence)]
    assert "\n" not in rendered
    assert fence not in inner  # the content cannot close the span early


def test_q_encodes_values_but_keeps_placeholders_readable() -> None:
    assert q("m&x=1 #") == "m%26x%3D1%20%23"
    assert q("2026-11-30T12:00:00+01:00") == "2026-11-30T12:00:00%2B01:00"
    assert q("alice@example.com") == "alice@example.com"
    assert q("<resource.id>") == "<resource.id>"


def test_time_shifts() -> None:
    assert minus("2026-11-30T12:00:00.123Z", "7d") == "2026-11-23T12:00:00.123000Z"
    assert plus("2026-11-30T23:30:00+01:00", "1h") == "2026-11-30T23:30:00Z"
    assert minus("<first_seen>", "24h") == "<first_seen>"


def test_evidence_table_escapes_cells_and_limits_rows() -> None:
    events = [{"seq": i, "action": "model.invoke", "actor": {"id": "a|b\n`c"}} for i in range(3)]

    table = evidence_table(events, limit=2)

    assert "`a\\|b 'c`" in table
    assert table.count("\n| `") == 2
    assert "1 more event(s) not shown" in table
    assert evidence_table([]) == "_No evidence events are attached yet._"
