"""Every action Custody writes about itself is refused at ingest, unless AI services
legitimately send it too (apikey.*, auth.*). Scans the code, so a new internal record
added anywhere fails here until the policy names it."""

from __future__ import annotations

import ast

import pytest

from service.logformat import is_server_only_action, refusal
from tests.conftest import REPO

OPEN_TO_SHIPPERS = ("apikey.", "auth.")
# Functions (and the Change record) whose `action=` ends up as a `source: custody` record.
WRITERS = {"record_internal", "record_change", "record_update", "Change"}


def _internal_actions() -> set[str]:
    trees = [ast.parse(p.read_text(encoding="utf-8")) for p in (REPO / "service").rglob("*.py")]
    # Module-level string constants (ERASE_ACTION = "event.erase"), to resolve names.
    constants = {
        target.id: node.value.value
        for tree in trees
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name) and isinstance(node.value.value, str)
    }
    found: set[str] = set()

    def add(value: ast.expr) -> None:
        if isinstance(value, ast.Constant):
            found.add(str(value.value))
        elif isinstance(value, ast.Name) and value.id in constants:
            found.add(constants[value.id])

    for tree in trees:
        # Dicts assigned to a name, for writers called as `record_internal(**record)`.
        dicts = {
            target.id: node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Dict)
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            if name not in WRITERS:
                continue
            for kw in node.keywords:
                if kw.arg == "action":
                    add(kw.value)
                elif kw.arg is None and isinstance(kw.value, ast.Name) and kw.value.id in dicts:
                    literal = dicts[kw.value.id]
                    for key, value in zip(literal.keys, literal.values, strict=True):
                        if isinstance(key, ast.Constant) and key.value == "action":
                            add(value)
    return found


def test_the_scan_finds_the_known_writers() -> None:
    assert {"incident.open", "event.erase", "audit.read", "apikey.create"} <= _internal_actions()


@pytest.mark.parametrize("action", sorted(_internal_actions()))
def test_every_internal_action_is_server_only_or_deliberately_open(action: str) -> None:
    assert is_server_only_action(action) or action.startswith(OPEN_TO_SHIPPERS), (
        f"{action!r} is written by Custody: add it to service/logformat/policy.py"
    )


def test_refusal_names_the_field() -> None:
    assert refusal("custody", "model.invoke") == (
        "source",
        "source 'custody' is reserved for Custody's own records",
    )
    assert refusal("gw", "incident.update") is not None
    assert refusal(None, "event.erase") is not None
    assert refusal("gw", "apikey.create") is None
    assert refusal("gw", "logging.disable") is None  # `log.` is reserved, `logging.` is not
