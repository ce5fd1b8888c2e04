"""Azure OpenAI diagnostics and APIM gateway logs (Elastic integration test files)."""

from __future__ import annotations

from service.adapters import load_file, normalize
from tests.adapters.helpers import check_event, fixture


def test_audit_list_key() -> None:
    [event] = normalize(load_file(fixture("azure-openai/azure_openai_audit.jsonl")))
    check_event(event)
    assert event["source"] == "azure.openai"
    assert event["action"] == "apikey.read"
    assert event["outcome"] == "unknown"  # Audit records carry no result
    assert event["actor"] == {
        "type": "entra_principal",
        "id": "b610ab05-ce06-4cc1-a6dd-174b9f80468a",
    }
    assert event["time"] == "2024-04-17T06:03:30.000Z"
    assert event["resource"]["id"].endswith("/ACCOUNTS/OBS-OPENAI-TEST-01")


def test_request_response() -> None:
    thread, chat, dalle = normalize(
        load_file(fixture("azure-openai/azure_openai_requestresponse.jsonl"))
    )
    for event in (thread, chat, dalle):
        check_event(event)
        assert event["actor"] == {"ip": "81.2.69.***"}  # masked IP kept; empty objectId dropped
        assert event["outcome"] == "success"
    # properties as a JSON-encoded string (line 1) is decoded for mapping, kept as-is in raw.
    assert thread["action"] == "azure.openai.create_thread"
    assert thread["attributes"]["api_name"] == "Azure OpenAI API version 2024-02-15-preview"
    assert isinstance(thread["raw"]["properties"], str)
    assert chat["action"] == "model.invoke"
    assert chat["resource"] == {"type": "model", "id": "gpt-chat-pilot", "version": "0301"}
    assert chat["attributes"]["model_name"] == "gpt-35-turbo"
    # Lines 2 and 3 share correlationId and time: ids come from content, so they differ.
    assert chat["request_id"] == dalle["request_id"]
    assert chat["id"] != dalle["id"]
    # .NET tick counts exceed 2^53: carried as exact strings so ingest accepts the record.
    assert chat["raw"]["properties"]["requestTime"] == "638515262815394150"


def test_apim_gateway_content_filter() -> None:
    ok, blocked = normalize(load_file(fixture("azure-openai/azure_openai_apim_gatewaylogs.jsonl")))
    for event in (ok, blocked):
        check_event(event)
        assert event["action"] == "model.invoke"
        assert event["resource"] == {"type": "model", "id": "gpt-chat-pilot"}
        assert event["actor"] == {"ip": "81.2.69.144"}
    assert ok["outcome"] == "success"
    assert (ok["attributes"]["input_tokens"], ok["attributes"]["output_tokens"]) == (14, 8)
    assert ok["attributes"]["guardrail_intervened"] is False
    assert blocked["outcome"] == "failure"
    assert blocked["attributes"]["status_code"] == 400
    assert blocked["attributes"]["error_code"] == "content_filter"
    assert blocked["attributes"]["error_inner_code"] == "ResponsibleAIPolicyViolation"
    assert blocked["attributes"]["guardrail_intervened"] is True
    assert "capital of tamilnadu" not in str(ok["attributes"])
