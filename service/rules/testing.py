"""Run the test cases shipped next to the rules (backs `custody rules test [DIR]`).

Test files live in `<rules dir>/tests/*.yml`, usually one per rule file with the same stem::

    rule: 5f0e...            # id or name of the rule whose firing is expected
    fire:                    # each case must make that rule fire
      - name: ten denied calls in two minutes
        events:
          - {time: "2026-11-30T12:00:00Z", action: model.invoke, outcome: denied, ...}
          - ...
      - [ {...}, {...} ]     # a bare list of events is a case too
    no_fire:                 # each case must not make it fire
      - name: ...
        events: [...]

Each case runs alone through a fresh `Engine` holding the whole rule set (so correlations
see the rules they reference) and a fresh in-memory first-seen store. `seq` is assigned
1, 2, ... in list order unless an event sets it; `time` is required.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from service.rules.engine import Engine
from service.rules.loader import load_rules
from service.rules.model import Firing, Rule, RuleLoadError


@dataclass(frozen=True, slots=True)
class CaseResult:
    file: Path
    rule_id: str
    expect: str  # "fire" or "no_fire"
    name: str
    passed: bool
    firings: int


@dataclass(frozen=True, slots=True)
class RuleTestReport:
    results: tuple[CaseResult, ...]
    errors: tuple[RuleLoadError, ...]  # rule files that failed to load, bad test files
    untested: tuple[str, ...]  # ids of rules that can fire but have no test file

    @property
    def ok(self) -> bool:
        return not self.errors and all(r.passed for r in self.results)


def run_rule_tests(*, rules_dir: Path, tests_dir: Path | None = None) -> RuleTestReport:
    rules, errors = load_rules(directory=rules_dir)
    tests_dir = tests_dir if tests_dir is not None else rules_dir / "tests"
    results: list[CaseResult] = []
    tested: set[str] = set()
    paths = sorted([*tests_dir.glob("*.yml"), *tests_dir.glob("*.yaml")])
    for path in paths:
        try:
            file_results = run_test_file(rules=rules, path=path)
        except TestFileError as exc:
            errors.append(RuleLoadError(path, str(exc), exc.field))
            continue
        results.extend(file_results)
        tested.update(r.rule_id for r in file_results)
    untested = tuple(r.id for r in rules if r.emits and r.id not in tested)
    return RuleTestReport(results=tuple(results), errors=tuple(errors), untested=untested)


class TestFileError(ValueError):
    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def run_test_file(*, rules: Sequence[Rule], path: Path) -> list[CaseResult]:
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise TestFileError(f"cannot read YAML: {exc}") from exc
    if not isinstance(spec, dict) or set(spec) - {"rule", "fire", "no_fire", "description"}:
        raise TestFileError("expected a mapping with 'rule', 'fire' and 'no_fire'")
    wanted = str(spec.get("rule", ""))
    target = next((r for r in rules if wanted in (r.id, r.name)), None)
    if target is None:
        raise TestFileError(f"no loaded rule with id or name '{wanted}'", "rule")
    results = []
    for expect in ("fire", "no_fire"):
        cases = spec.get(expect) or []
        if not isinstance(cases, list):
            raise TestFileError("must be a list of cases", expect)
        for number, case in enumerate(cases, start=1):
            name, events = _case(case, f"{expect}[{number}]")
            count = sum(f.rule_id == target.id for f in run_case(rules=rules, events=events))
            passed = count > 0 if expect == "fire" else count == 0
            results.append(CaseResult(path, target.id, expect, name, passed, count))
    return results


def run_case(*, rules: Sequence[Rule], events: Sequence[Mapping[str, Any]]) -> list[Firing]:
    """All firings a fresh engine produces for these events (seq assigned if missing)."""
    engine = Engine(rules)
    firings: list[Firing] = []
    for seq, event in enumerate(events, start=1):
        firings.extend(engine.process({"seq": seq, **event}))
    return firings


def _case(case: Any, label: str) -> tuple[str, list[Mapping[str, Any]]]:
    if isinstance(case, list):
        name, events = label, case
    elif isinstance(case, dict) and isinstance(case.get("events"), list):
        name, events = str(case.get("name", label)), case["events"]
    else:
        raise TestFileError("a case is a list of events or {name, events}", label)
    for event in events:
        if not isinstance(event, dict) or "time" not in event:
            raise TestFileError("every event needs a 'time'", label)
    return name, events
