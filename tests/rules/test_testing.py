"""The rule test runner reports passes, failures and bad test files as data."""

from __future__ import annotations

from pathlib import Path

from service.rules.testing import run_rule_tests
from tests.rules.conftest import rule_yaml


def test_runner_reports_failures_and_bad_files(tmp_path: Path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "r.yml").write_text(rule_yaml("sel: {action: x}\ncondition: sel", name="r"))
    (tmp_path / "other.yml").write_text(rule_yaml("sel: {action: y}\ncondition: sel", name="o"))
    (tmp_path / "tests" / "r.yml").write_text(
        "rule: r\n"
        "fire:\n  - [{time: '2026-01-01T00:00:00Z', action: x}]\n"
        "  - {name: wrong, events: [{time: '2026-01-01T00:00:00Z', action: y}]}\n"
        "no_fire:\n  - {name: quiet, events: [{time: '2026-01-01T00:00:00Z', action: y}]}\n"
    )
    (tmp_path / "tests" / "bad.yml").write_text("rule: nope\nfire: []\n")
    report = run_rule_tests(rules_dir=tmp_path)
    assert [(r.expect, r.name, r.passed, r.firings) for r in report.results] == [
        ("fire", "fire[1]", True, 1),
        ("fire", "wrong", False, 0),
        ("no_fire", "quiet", True, 0),
    ]
    (error,) = report.errors
    assert error.path.name == "bad.yml" and error.field == "rule"
    assert len(report.untested) == 1  # rule "o"
    assert not report.ok
