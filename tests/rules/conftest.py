from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from service.rules import Rule, load_rules

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    """RFC 3339 time `seconds` after T0 (millisecond precision)."""
    moment = T0 + timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event(seq: int, seconds: float, action: str, **fields: Any) -> dict[str, Any]:
    """A stored event; `actor="x"` is shorthand for {"id": "x"}."""
    out: dict[str, Any] = {"seq": seq, "time": at(seconds), "source": "test", "action": action}
    for key, value in fields.items():
        if key in ("actor", "resource") and isinstance(value, str):
            value = {"id": value}
        out[key] = value
    return out


def rule_yaml(detection: str, *, name: str = "r", level: str = "medium", extra: str = "") -> str:
    """One detection rule document; `detection` is the indented body of `detection:`."""
    body = textwrap.indent(textwrap.dedent(detection).strip(), "  ")
    return (
        f"title: {name}\nid: {uuid.uuid4()}\nname: {name}\nlevel: {level}\n"
        f"logsource: {{product: custody}}\n{textwrap.dedent(extra)}detection:\n{body}\n"
    )


LoadText = Callable[..., list[Rule]]


@pytest.fixture
def load_text(tmp_path: Path) -> LoadText:
    """Write YAML text(s) to files in a fresh directory and load them; fails on errors."""

    def load(*texts: str) -> list[Rule]:
        directory = tmp_path / uuid.uuid4().hex
        directory.mkdir()
        for number, text in enumerate(texts):
            (directory / f"rule{number}.yml").write_text(textwrap.dedent(text))
        rules, errors = load_rules(directory=directory)
        assert not errors, [str(e) for e in errors]
        return rules

    return load
