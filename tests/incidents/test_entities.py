"""Entities extracted from every real sample format: what a responder pivots on."""

from __future__ import annotations

import pytest

from service.adapters import load_file, normalize
from service.incidents.entities import extract, parse
from tests.adapters.helpers import FIXTURES


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        (
            "stratus/aws.impact.bedrock-invoke-model.json",
            {
                ("actor", "arn:aws:sts::494659789341:assumed-role/test-role/cli"),
                ("ip", "035.249.253.232"),
                ("api_key", "ASIA6FTSFH98XNF7DFZB"),
                ("role", "arn:aws:iam::494659789341:role/test-role"),
                ("model", "anthropic.claude-3-sonnet-20240229-v1:0"),
                ("source", "aws.cloudtrail"),
            },
        ),
        (
            "vertex/gcp_vertexai_auditlogs.jsonl",
            {
                ("actor", "matt-adams-gimini-live-app@elastic-abs.iam.gserviceaccount.com"),
                ("ip", "175.16.199.30"),
                ("model", "gemini-2.0-flash-live-preview-04-09"),
            },
        ),
        (
            "openai/openai_openapi_auditlog_object.example.json",
            {("actor", "user@example.com"), ("ip", "127.0.0.1"), ("api_key", "key_xxxx")},
        ),
        (
            "azure-openai/azure_openai_requestresponse.jsonl",
            {("model", "dall-e-3"), ("model_version", "dall-e-3@0301"), ("source", "azure.openai")},
        ),
        (
            "bedrock-invocation/bedrock_model_invocation_logs_subset.jsonl",
            {("actor", "arn:aws:iam::111122223333:user/bedrock-test")},
        ),
        (
            "cloudtrail-sagemaker/awsdocs_sagemaker_createendpoint.json",
            {("source", "aws.cloudtrail")},
        ),
    ],
)
def test_entities_of_real_samples(sample: str, expected: set[tuple[str, str]]) -> None:
    events = normalize(load_file(FIXTURES / sample))
    found = set(extract(events[-1]))
    assert expected <= found, expected - found
    # Every event of every sample yields at least a source and no empty value.
    for event in events:
        pairs = extract(event)
        assert ("source", event["source"]) in pairs
        assert all(value for _, value in pairs) and len(pairs) == len(set(pairs))


def test_agents_artifacts_and_resources() -> None:
    event = {
        "source": "agent-runtime",
        "action": "agent.tool.invoke",
        "actor": {"type": "agent", "id": "support-bot"},
        "resource": {"type": "tool", "id": "http_post"},
        "attributes": {"on_behalf_of": "alice@example.com", "sha256": "ab" * 32},
    }
    assert extract(event) == [
        ("actor", "support-bot"),
        ("actor", "alice@example.com"),
        ("resource", "tool:http_post"),
        ("source", "agent-runtime"),
        ("artifact", "ab" * 32),
    ]


def test_entity_spec_parsing() -> None:
    assert parse("ip:203.0.113.7") == ("ip", "203.0.113.7")
    assert parse("model:anthropic.claude-3-sonnet-20240229-v1:0")[1].endswith("v1:0")
    for bad in ("ip", "colour:red", "ip:"):
        with pytest.raises(ValueError, match="TYPE:VALUE"):
            parse(bad)
