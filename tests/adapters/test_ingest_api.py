"""Every real log sample through POST /v1/events: detected, normalized, stored, idempotent."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from service.adapters import ADAPTERS, load_file
from service.auditlog.formats import InputFormat
from tests.adapters.helpers import FIXTURES
from tests.conftest import event

JSON = {"content-type": "application/json"}
NDJSON = {"content-type": "application/x-ndjson"}

# file -> (format, the (action, outcome) of every record). Written out by hand from the
# samples (SOURCES.md describes each), not computed by the code under test.
EXPECTED: dict[str, tuple[str, Counter[tuple[str, str]]]] = {
    "stratus/aws.impact.bedrock-invoke-model.json": (
        "cloudtrail",
        Counter(
            {
                ("model.enumerate", "success"): 11,
                ("model.access.enable", "success"): 3,
                ("model.invoke", "success"): 1,
            }
        ),
    ),
    "stratus/aws.persistence.iam-create-admin-user.json": (
        "cloudtrail",
        Counter(
            {
                ("user.create", "success"): 1,
                ("policy.update", "success"): 1,
                ("apikey.create", "success"): 1,
            }
        ),
    ),
    "stratus/aws.persistence.iam-create-backdoor-role.json": (
        "cloudtrail",
        Counter({("policy.update", "success"): 2}),
    ),
    "garak/dan-blank.report.jsonl": (
        "garak",
        Counter({("model.eval.adversarial", "failure"): 2,
                 ("model.eval.adversarial", "success"): 2}),
    ),
    "inspect-ai/prompt-injection-resistance.eval.json": (
        "inspect_ai",
        Counter({("model.eval.adversarial", "failure"): 1}),
    ),
    "cloudtrail-bedrock/sumologic_doc_bedrock_invokemodel.json": (
        "cloudtrail",
        Counter({("model.invoke", "success"): 1}),
    ),
    "cloudtrail-sagemaker/awsdocs_sagemaker_createendpoint.json": (
        "cloudtrail",
        Counter({("model.deploy", "success"): 1}),
    ),
    "cloudtrail-sagemaker/awsdocs_sagemaker_createmodel.json": (
        "cloudtrail",
        Counter({("model.create", "success"): 1}),
    ),
    "cloudtrail-sagemaker/sumologic_doc_sagemaker_listtags.json": (
        "cloudtrail",
        Counter({("aws.sagemaker.list_tags", "success"): 1}),
    ),
    "bedrock-invocation/bedrock_model_invocation_logs_subset.jsonl": (
        "bedrock_invocation",
        Counter({("model.invoke", "success"): 4}),
    ),
    "vertex/gcp_vertexai_auditlogs.jsonl": (
        "gcp",
        Counter(
            {
                ("gcp.aiplatform.prediction_service.count_tokens", "success"): 2,
                ("model.invoke", "success"): 1,
                ("model.invoke", "failure"): 1,  # status.code 10
            }
        ),
    ),
    "openai/openai_openapi_auditlog_object.example.json": (
        "openai",
        Counter({("apikey.create", "success"): 1}),
    ),
    "openai/openai_openapi_list_audit_logs_response.example.json5": (
        "openai",
        Counter({("openai.project.archived", "success"): 1, ("apikey.update", "success"): 1}),
    ),
    "azure-openai/azure_openai_apim_gatewaylogs.jsonl": (
        "azure_openai",
        # the second record is the content-filter block (HTTP 400)
        Counter({("model.invoke", "success"): 1, ("model.invoke", "failure"): 1}),
    ),
    "azure-openai/azure_openai_audit.jsonl": (
        "azure_openai",
        Counter({("apikey.read", "unknown"): 1}),
    ),
    "azure-openai/azure_openai_requestresponse.jsonl": (
        "azure_openai",
        Counter({("azure.openai.create_thread", "success"): 1, ("model.invoke", "success"): 2}),
    ),
}


def body_of(path: Path) -> tuple[bytes, dict[str, str]]:
    """The file as a shipper would send it: bytes verbatim where they are valid JSON."""
    if path.suffix == ".jsonl":
        return path.read_bytes(), NDJSON
    if path.suffix == ".json5":  # trailing commas: the client reads it tolerantly
        return orjson.dumps(load_file(path)), JSON
    return path.read_bytes(), JSON


def stored(client: TestClient) -> list[dict[str, Any]]:
    items = client.get("/v1/events", params={"limit": 1000, "include_raw": True}).json()["items"]
    return [i for i in items if i["source"] != "custody"]


def test_every_sample_is_listed() -> None:
    on_disk = {
        f"{p.parent.name}/{p.name}"
        for p in FIXTURES.glob("*/*")
        if p.suffix in {".json", ".jsonl", ".json5"}
    }
    assert on_disk == set(EXPECTED)


def test_format_parameter_names_every_adapter() -> None:
    assert {f.value for f in InputFormat} == set(ADAPTERS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("explicit", [False, True], ids=["detected", "format"])
def test_sample_ingests_with_expected_actions_and_is_idempotent(
    client: TestClient, name: str, explicit: bool
) -> None:
    fmt, expected = EXPECTED[name]
    body, headers = body_of(FIXTURES / name)
    params = {"format": fmt} if explicit else {}
    r = client.post("/v1/events", content=body, headers=headers, params=params)
    assert r.status_code == 200, r.text
    total = sum(expected.values())
    assert (r.json()["accepted"], r.json()["duplicates"]) == (total, 0)
    events = stored(client)
    assert Counter((e["action"], e["outcome"]) for e in events) == expected
    assert all(e["raw"] is not None and e["id"] for e in events)
    head = client.get("/v1/log/head").json()["hash"]  # reads are logged, so after them

    again = client.post("/v1/events", content=body, headers=headers, params=params)
    assert again.status_code == 200, again.text
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, total)
    assert again.json()["head_hash"] == head
    assert len(stored(client)) == total


def test_cloudtrail_records_document_keeps_actor_resource_and_raw(client: TestClient) -> None:
    records = load_file(FIXTURES / "stratus/aws.impact.bedrock-invoke-model.json")
    r = client.post("/v1/events", content=orjson.dumps({"Records": records}), headers=JSON)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 15
    invoke = next(e for e in stored(client) if e["action"] == "model.invoke")
    assert invoke["source"] == "aws.cloudtrail"
    assert invoke["resource"]["id"] == "anthropic.claude-3-sonnet-20240229-v1:0"
    assert invoke["raw"]["eventName"] == "InvokeModel"
    assert invoke["id"] == invoke["raw"]["eventID"]
    assert invoke["actor"]["id"] == "arn:aws:sts::494659789341:assumed-role/test-role/cli"
    assert invoke["actor"]["ip"] == "035.249.253.232"  # zero-padded, kept verbatim


def test_mixed_custody_and_vendor_records_in_one_array(client: TestClient) -> None:
    trail = load_file(FIXTURES / "cloudtrail-bedrock/sumologic_doc_bedrock_invokemodel.json")
    r = client.post("/v1/events", json=[event(id="native-1"), trail])
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2
    assert {e["source"] for e in stored(client)} == {"inference-gateway", "aws.cloudtrail"}


def test_adapter_errors_are_422_with_index_and_nothing_is_stored(client: TestClient) -> None:
    trail = load_file(FIXTURES / "cloudtrail-bedrock/sumologic_doc_bedrock_invokemodel.json")
    broken = {**trail, "eventTime": "not a time"}
    r = client.post("/v1/events", json=[trail, broken, {"hello": "world"}])
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    errors = {e["index"]: e for e in r.json()["errors"]}
    assert set(errors) == {1, 2}
    assert "eventTime" in errors[1]["message"] or "time" in errors[1]["message"]
    assert stored(client) == []

    partial = client.post("/v1/events", json=[trail, broken], params={"partial": "true"})
    assert partial.json()["accepted"] == 1 and partial.json()["rejected"] == 1


def test_forced_format_that_does_not_fit_is_422(client: TestClient) -> None:
    r = client.post("/v1/events", json=event(), params={"format": "cloudtrail"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["index"] == 0
    assert client.post("/v1/events", json=event(), params={"format": "nope"}).status_code == 422


def test_raw_has_its_own_limit_outside_attributes(client: TestClient, app: Any) -> None:
    trail = load_file(FIXTURES / "cloudtrail-bedrock/sumologic_doc_bedrock_invokemodel.json")
    big = {**trail, "requestParameters": {**trail["requestParameters"], "pad": "x" * 100_000}}
    # 100 KB of raw passes (attributes stay small; raw's own limit is 256 KiB)...
    assert client.post("/v1/events", json=big).status_code == 200
    app.state.settings.max_raw_bytes = 50_000
    huge = {**big, "eventID": "another-id"}
    r = client.post("/v1/events", json=huge)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "raw"


def test_too_many_records_inside_a_container_is_413(client: TestClient, app: Any) -> None:
    app.state.settings.max_events_per_request = 5
    records = load_file(FIXTURES / "stratus/aws.impact.bedrock-invoke-model.json")
    r = client.post("/v1/events", json={"Records": records})
    assert r.status_code == 413


def test_ndjson_labelled_json_is_read_but_a_broken_document_stays_malformed(
    client: TestClient,
) -> None:
    lines = orjson.dumps(event(id="l1")) + b"\n" + orjson.dumps(event(id="l2")) + b"\n"
    r = client.post("/v1/events", content=lines, headers=JSON)  # Fluent Bit < 3.0
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2
    broken = b'{\n  "time": "2026-11-30T12:00:00Z",\n  "action": \n}\n'
    r = client.post("/v1/events", content=broken, headers=JSON)
    assert r.status_code == 422
    assert "Malformed JSON" in r.json()["detail"]
