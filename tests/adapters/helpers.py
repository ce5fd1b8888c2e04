"""Shared test helpers: where the real samples live, and the ingest constraints check."""

from __future__ import annotations

import math
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

# Real public samples, copied into the repo with their provenance (fixtures/real/SOURCES.md).
REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "real"

ACTION_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
RFC3339_Z_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
MAX_SAFE = 2**53 - 1
TOP_KEYS = {
    "id", "time", "source", "action", "outcome", "actor", "resource", "request_id",
    "attributes", "raw",
}  # fmt: skip


def fixture(relative: str) -> Path:
    path = FIXTURES / relative
    assert path.exists(), f"real sample missing: {path} (see tests/fixtures/real/SOURCES.md)"
    return path


def _check_numbers(value: Any, path: str) -> None:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        assert -MAX_SAFE <= value <= MAX_SAFE, f"{path}: integer {value} outside I-JSON"
    elif isinstance(value, float):
        assert math.isfinite(value), f"{path}: non-finite {value}"
    elif isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str), f"{path}: non-string key {key!r}"
            _check_numbers(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_numbers(item, f"{path}[{i}]")
    else:
        raise AssertionError(f"{path}: {type(value).__name__} is not JSON")


def check_event(event: dict[str, Any]) -> None:
    """Assert what the ingest validator enforces, plus the adapters' own promises."""
    assert set(event) <= TOP_KEYS, set(event) - TOP_KEYS
    assert all(v is not None for v in event.values()), "None values must be omitted"
    assert isinstance(event["id"], str)
    assert 0 < len(event["id"]) <= 256
    assert RFC3339_Z_RE.match(event["time"]), event["time"]
    datetime.fromisoformat(event["time"])  # also a real calendar date
    assert isinstance(event["source"], str)
    assert event["source"]
    assert ACTION_RE.match(event["action"]), event["action"]
    assert event["outcome"] in {"success", "failure", "denied", "unknown"}
    for part, keys in (
        ("actor", {"type", "id", "ip", "user_agent"}),
        ("resource", {"type", "id", "version"}),
    ):
        if part in event:
            block = event[part]
            assert block, f"empty {part} must be omitted"
            assert set(block) <= keys, set(block) - keys
            assert all(isinstance(v, str) and v for v in block.values()), block
    if "request_id" in event:
        assert isinstance(event["request_id"], str)
        assert event["request_id"]
    attributes = event.get("attributes", {})
    assert isinstance(attributes, dict)
    assert len(orjson.dumps(attributes)) <= 64 * 1024
    _check_numbers(attributes, "attributes")
    assert "raw" in event, "the original record must be kept"
    _check_numbers(event["raw"], "raw")
    orjson.dumps(event)  # serializable as strict JSON
