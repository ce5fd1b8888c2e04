"""detect_format / normalize / normalize_lines: envelopes, passthrough, and errors."""

from __future__ import annotations

import json

import pytest

from service.adapters import (
    ADAPTERS,
    AdapterError,
    NormalizeError,
    detect_format,
    load_file,
    mapping_markdown,
    normalize,
    normalize_lines,
)
from tests.adapters.helpers import check_event, fixture

CUSTODY_EVENT = {
    "id": "b2c1",
    "time": "2026-11-30T12:00:00.123Z",
    "source": "inference-gateway",
    "action": "model.weights.download",
    "outcome": "success",
    "actor": {"type": "user", "id": "alice@example.com"},
    "attributes": {"bytes": 4294967296},
}


def test_registry_names() -> None:
    assert set(ADAPTERS) == {
        "cloudtrail",
        "openai",
        "gcp",
        "bedrock_invocation",
        "azure_openai",
        "inspect_ai",
        "garak",
        "custody",
    }


def test_custody_events_pass_through_untouched() -> None:
    assert detect_format(CUSTODY_EVENT) == "custody"
    [event] = normalize(CUSTODY_EVENT)
    assert event == CUSTODY_EVENT
    assert event is not CUSTODY_EVENT


def test_mixed_list_is_detected_per_item() -> None:
    cloudtrail = load_file(fixture("cloudtrail-bedrock/sumologic_doc_bedrock_invokemodel.json"))
    openai = load_file(fixture("openai/openai_openapi_auditlog_object.example.json"))
    payload = [cloudtrail, openai, CUSTODY_EVENT]
    assert detect_format(payload) is None  # mixed
    sources = [e.get("source") for e in normalize(payload)]
    assert sources == ["aws.cloudtrail", "openai.audit", "inference-gateway"]


def test_forced_format() -> None:
    record = load_file(fixture("cloudtrail-bedrock/sumologic_doc_bedrock_invokemodel.json"))
    [event] = normalize(record, format="cloudtrail")
    assert event["action"] == "model.invoke"
    with pytest.raises(ValueError, match="unknown format 'syslog'"):
        normalize(record, format="syslog")
    with pytest.raises(NormalizeError, match="item 0: openai: OpenAI audit log without type"):
        normalize(record, format="openai")


def test_unrecognized_items_are_named_by_index() -> None:
    record = load_file(fixture("cloudtrail-bedrock/sumologic_doc_bedrock_invokemodel.json"))
    with pytest.raises(NormalizeError) as caught:
        normalize([record, {"hello": "world"}, record, 42])
    assert caught.value.errors == [
        (1, "unrecognized record format (keys: hello)"),
        (3, "expected a JSON object, got int"),
    ]
    assert "item 1: unrecognized record format" in str(caught.value)


def test_broken_record_of_a_known_format() -> None:
    record = load_file(fixture("cloudtrail-bedrock/sumologic_doc_bedrock_invokemodel.json"))
    with pytest.raises(NormalizeError, match="item 0: cloudtrail: time: unrecognized timestamp"):
        normalize(dict(record, eventTime="Aug 1, 2024 1:33:28 PM"))
    with pytest.raises(NormalizeError, match="without eventTime"):
        normalize({k: v for k, v in record.items() if k != "eventTime"})


def test_non_finite_numbers_are_refused() -> None:
    record = load_file(fixture("cloudtrail-bedrock/sumologic_doc_bedrock_invokemodel.json"))
    with pytest.raises(NormalizeError, match="non-finite"):
        normalize(dict(record, requestParameters={"modelId": "m", "x": float("nan")}))


def test_normalize_lines_ndjson() -> None:
    path = fixture("vertex/gcp_vertexai_auditlogs.jsonl")
    lines = path.read_text(encoding="utf-8").splitlines()
    events = normalize_lines(lines)
    assert [e["id"] for e in events] == [
        "1tif4epd6kb0",
        "a08grte2i9bf",
        "ldy87re4b6ph",
        "swloqme85uqe",
    ]
    assert normalize_lines(line.encode() for line in lines) == events
    # A line may itself be a container document.
    records = json.dumps(
        {
            "Records": [
                load_file(fixture("cloudtrail-bedrock/sumologic_doc_bedrock_invokemodel.json"))
            ]
        }
    )
    [event] = normalize_lines([records])
    check_event(event)


def test_normalize_lines_names_the_bad_line() -> None:
    with pytest.raises(AdapterError, match="line 2: invalid JSON"):
        normalize_lines(['{"a": 1}', "{not json", ""])
    with pytest.raises(AdapterError, match="line 1: invalid JSON: NaN is not valid JSON"):
        normalize_lines(['{"a": NaN}'])


def test_mapping_markdown_has_every_section() -> None:
    text = mapping_markdown()
    for title in ("AWS CloudTrail", "OpenAI audit", "Google Cloud", "Azure OpenAI", "Bedrock"):
        assert f"### {title}" in text
    assert "| `model.enumerate` |" in text
