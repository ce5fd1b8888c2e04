"""Fixtures and builders for runbook tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "runbooks"

MINIMAL_STEPS = """\
steps:
  analysis:
    - {id: look, title: Look around, csf: [RS.AN-03]}
  post_incident:
    - {id: review, title: Review, requires_note: true, csf: [ID.IM-03]}
"""


def runbook_text(
    runbook_id: str = "sample",
    *,
    extra_meta: str = "",
    steps: str = MINIMAL_STEPS,
    body: str | None = None,
) -> str:
    """A valid runbook file, with parts replaceable to make it invalid."""
    if body is None:
        body = (
            "Overview for {{ incident.id }}.\n\n"
            "## step: look\nReplay `{{ group['actor.id'] | sh }}`.\n\n"
            "## step: review\nWrite the review.\n"
        )
    return f"---\nid: {runbook_id}\ntitle: Sample\nversion: 1\n{extra_meta}{steps}---\n{body}"


def write_runbook(directory: Path, runbook_id: str = "sample", **kwargs: Any) -> Path:
    path = directory / f"{runbook_id}.md"
    path.write_text(runbook_text(runbook_id, **kwargs), encoding="utf-8")
    return path


@pytest.fixture
def incident() -> dict[str, Any]:
    return {
        "id": "INC-7",
        "title": "Model weights downloaded by a new actor",
        "severity": "high",
        "status": "open",
        "rule_id": "0b9d6a4e-8c1f-4f0e-9d7a-2c7e5b1f3a90",
        "tags": ["atlas.aml.t0024", "atlas.aml.t0040"],
        "first_seen": "2026-11-30T12:00:00.123Z",
        "last_seen": "2026-11-30T12:41:07Z",
        "event_count": 3,
    }


@pytest.fixture
def group() -> dict[str, str]:
    return {"actor.id": "alice@example.com", "resource.id": "llm-prod"}


@pytest.fixture
def evidence() -> list[dict[str, Any]]:
    return [
        {
            "seq": 100 + i,
            "time": f"2026-11-30T12:{i:02d}:00Z",
            "action": "model.weights.download",
            "outcome": "success",
            "actor": {"type": "user", "id": "alice@example.com", "ip": "203.0.113.7"},
            "resource": {"type": "model", "id": "llm-prod", "version": "2026-11-01"},
            "hash": "ab" * 32,
        }
        for i in range(3)
    ]
