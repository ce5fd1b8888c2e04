"""Every real log sample normalizes, passes the ingest constraints, and is deterministic."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from service.adapters import detect_format, load_file, normalize
from tests.adapters.helpers import FIXTURES, check_event

# Data files that are log samples (rule definitions and docs are not).
SAMPLE_DIRS = (
    "stratus",
    "cloudtrail-bedrock",
    "cloudtrail-sagemaker",
    "bedrock-invocation",
    "vertex",
    "openai",
    "azure-openai",
)
EXPECTED_FORMAT = {
    "stratus": "cloudtrail",
    "cloudtrail-bedrock": "cloudtrail",
    "cloudtrail-sagemaker": "cloudtrail",
    "bedrock-invocation": "bedrock_invocation",
    "vertex": "gcp",
    "openai": "openai",
    "azure-openai": "azure_openai",
}
# The OpenAI schema excerpt is an OpenAPI document, not a log sample.
NOT_SAMPLES = {"openai_openapi_auditlog_schemas.excerpt.yaml"}


def _samples() -> list[Path]:
    return sorted(
        path
        for directory in SAMPLE_DIRS
        for path in (FIXTURES / directory).iterdir()
        if path.is_file() and path.name not in NOT_SAMPLES
    )


def test_sample_inventory() -> None:
    # A new sample dropped into tests/fixtures/real/ shows up here rather than going untested.
    assert len(_samples()) == 14


@pytest.mark.parametrize("path", _samples(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sample_normalizes_deterministically(path: Path) -> None:
    payload = load_file(path)
    pristine = copy.deepcopy(payload)
    assert detect_format(payload) == EXPECTED_FORMAT[path.parent.name]
    first = normalize(payload)
    assert payload == pristine, "normalize must not mutate its input"
    assert first
    for event in first:
        check_event(event)
    # Idempotency keys are stable across runs and unique within a file.
    again = normalize(load_file(path))
    assert [e["id"] for e in again] == [e["id"] for e in first]
    assert again == first
    assert len({e["id"] for e in first}) == len(first)
