"""Runbook selection precedence."""

from __future__ import annotations

import pytest

from service.runbooks.errors import NoRunbookFound
from service.runbooks.loader import parse_runbook
from service.runbooks.match import select_runbook
from service.runbooks.schemas import RunbookTemplate
from tests.runbooks.conftest import runbook_text

RULE = "5f0c2a5e-1d3b-4c55-9e51-6a1f3f1c0b7d"


def template(
    runbook_id: str, applies_to: list[str], severity_min: str | None = None
) -> RunbookTemplate:
    meta = f"applies_to: {applies_to}\n"
    if severity_min:
        meta += f"severity_min: {severity_min}\n"
    return parse_runbook(runbook_text(runbook_id, extra_meta=meta).encode(), source=runbook_id)


TEMPLATES = [
    template("generic-ai-incident", []),
    template("by-rule", [RULE]),
    template("by-rule-critical", [RULE], "critical"),
    template("by-tag", ["atlas.aml.t0024"]),
    template("by-two-tags", ["atlas.aml.t0024", "atlas.aml.t0040"]),
    template("by-tag-high", ["atlas.aml.t0051"], "high"),
    template("explicit-only", []),
]


def pick(
    *, explicit_id: str | None = None, rule_id: str | None = None,
    tags: tuple[str, ...] = (), severity: str = "medium",
) -> str:  # fmt: skip
    return select_runbook(
        TEMPLATES, explicit_id=explicit_id, rule_id=rule_id, tags=tags, severity=severity
    ).id


def test_explicit_runbook_wins_over_everything_and_ignores_severity_min() -> None:
    assert pick(explicit_id="explicit-only", rule_id=RULE, tags=("atlas.aml.t0024",)) == (
        "explicit-only"
    )
    assert pick(explicit_id="by-rule-critical", severity="info") == "by-rule-critical"


def test_unknown_explicit_id_falls_through() -> None:
    assert pick(explicit_id="no-such-runbook", rule_id=RULE) == "by-rule"


def test_rule_id_beats_tags() -> None:
    assert pick(rule_id=RULE, tags=("atlas.aml.t0024",)) == "by-rule"


def test_rule_id_match_prefers_the_more_specific_severity_when_met() -> None:
    assert pick(rule_id=RULE, severity="critical") == "by-rule-critical"
    assert pick(rule_id=RULE.upper(), severity="high") == "by-rule"


def test_tag_match_prefers_more_matching_tags_and_ignores_case() -> None:
    assert pick(tags=("ATLAS.AML.T0024",)) == "by-tag"
    assert pick(tags=("atlas.aml.t0024", "atlas.aml.t0040")) == "by-two-tags"


def test_severity_min_gates_tag_matches() -> None:
    assert pick(tags=("atlas.aml.t0051",), severity="medium") == "generic-ai-incident"
    assert pick(tags=("atlas.aml.t0051",), severity="high") == "by-tag-high"


def test_fallback_when_nothing_matches_and_error_without_it() -> None:
    assert pick(rule_id="other", tags=("attack.t1000",)) == "generic-ai-incident"
    with pytest.raises(NoRunbookFound):
        select_runbook(TEMPLATES[1:], explicit_id=None, rule_id=None, tags=(), severity="low")
