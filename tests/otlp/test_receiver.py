"""OTLP/HTTP in: the real OpenTelemetry SDK exporter against a live server, recorded OTLP
JSON, protobuf built with opentelemetry-proto, partial success, auth. Both databases."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import httpx
import orjson
from fastapi.testclient import TestClient
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from service.auth.schemas import Scope
from tests.otlp.agentrun import agent_run, provider

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "otlp"
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _events(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/events", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return [e for e in response.json()["items"] if e["source"] != "custody"]


def _verified(client: TestClient) -> None:
    report = client.get("/v1/log/verify").json()
    assert report["ok"] is True, report


def test_sdk_exporter_end_to_end(client: TestClient, server: str, make_token: Any) -> None:
    tp = provider(server, make_token(Scope.ingest))
    ids = agent_run(tp)
    assert tp.force_flush(10_000)
    tp.shutdown()

    events = _events(client, source="support-agent")
    by_span = {e["attributes"]["span_id"]: e for e in events}
    # Five GenAI spans kept, the HTTP span dropped.
    assert set(by_span) == {ids[k] for k in ("root", "chat", "researcher", "fetch", "post")}
    assert {e["request_id"] for e in events} == {ids["trace_id"]}

    root = by_span[ids["root"]]
    assert root["action"] == "agent.invoke" and root["outcome"] == "success"
    assert root["actor"] == {"type": "agent", "id": "agt-orch"}
    assert root["resource"] == {"type": "agent", "id": "agt-orch"}
    assert root["attributes"]["on_behalf_of"] == "alice@example.com"
    assert root["attributes"]["agent"] == {"id": "agt-orch", "name": "orchestrator"}
    assert root["attributes"]["conversation_id"] == "conv-42"
    assert "parent_span_id" not in root["attributes"]

    chat = by_span[ids["chat"]]
    assert chat["action"] == "model.invoke"
    assert chat["resource"] == {"type": "model", "id": "gpt-4o", "version": "gpt-4o-2024-08-06"}
    assert chat["attributes"]["usage"] == {
        "input_tokens": 120,
        "output_tokens": 30,
        "total_tokens": 150,
    }
    assert chat["attributes"]["parent_span_id"] == ids["root"]
    assert chat["attributes"]["api_key_id"] == "key-7"
    # Content only in the erasable payload's raw part, never in the chained record.
    assert "secret prompt" not in json.dumps(chat["attributes"])
    raw = client.get(f"/v1/events/{chat['seq']}").json()["attributes"]
    assert raw["trace_id"] == ids["trace_id"]
    full = client.get("/v1/events", params={"include_raw": "true", "source": "support-agent"})
    chat_raw = next(e for e in full.json()["items"] if e["seq"] == chat["seq"])["raw"]
    assert chat_raw["content"]["input.messages"][0]["parts"][0]["content"] == "secret prompt"

    fetch = by_span[ids["fetch"]]
    assert fetch["action"] == "agent.tool.invoke"
    assert fetch["actor"]["id"] == "agt-research"
    assert fetch["attributes"]["tool"] == {
        "name": "fetch_url",
        "call_id": "call-1",
        "type": "function",
    }
    assert fetch["attributes"]["parent_span_id"] == ids["researcher"]
    assert by_span[ids["researcher"]]["attributes"]["parent_span_id"] == ids["root"]

    post = by_span[ids["post"]]
    assert post["outcome"] == "failure" and post["attributes"]["error_type"] == "timeout"
    assert post["resource"] == {"type": "tool", "id": "http_post"}
    _verified(client)

    # Erasing the chat event's payload removes the prompt and keeps the chain valid.
    erased = client.post(f"/v1/events/{chat['seq']}/erase", json={"reason": "GDPR request"})
    assert erased.status_code == 200, erased.text
    _verified(client)


def test_sdk_redelivery_is_idempotent(client: TestClient, server: str, make_token: Any) -> None:
    """The SDK retries a batch it got no answer for: the second delivery stores nothing."""
    tp = provider(server, make_token(Scope.ingest))
    memory = InMemorySpanExporter()
    tp.add_span_processor(SimpleSpanProcessor(memory))
    agent_run(tp)
    tp.force_flush(10_000)
    stored = len(_events(client))
    assert stored == 5
    exporter = OTLPSpanExporter(
        endpoint=f"{server}/otlp/v1/traces",
        headers={"Authorization": f"Bearer {make_token(Scope.ingest)}"},
    )
    assert exporter.export(memory.get_finished_spans()) == SpanExportResult.SUCCESS
    assert len(_events(client)) == stored
    exporter.shutdown()
    tp.shutdown()


def _kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _span(span_id: bytes, start: int = 1764504000000000000, **attrs: str | int) -> Span:
    return Span(
        trace_id=bytes.fromhex("5b8aa5a2d2c872e8321cf37308d69df2"),
        span_id=span_id,
        name="chat",
        start_time_unix_nano=start,
        end_time_unix_nano=1764504001000000000,
        attributes=[_kv(k.replace("__", "."), v) for k, v in attrs.items()],
    )


def test_protobuf_partial_success(client: TestClient) -> None:
    export = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource={"attributes": [_kv("service.name", "gateway")]},
                scope_spans=[
                    ScopeSpans(
                        spans=[
                            _span(b"\x01" * 8, gen_ai__operation__name="chat"),
                            _span(b"\x00" * 8, gen_ai__operation__name="chat"),  # bad span id
                            _span(b"\x03" * 8, gen_ai__agent__id="a" * 600),  # actor.id too long
                            _span(b"\x04" * 8, http__route="/"),  # not GenAI: ignored
                        ]
                    )
                ],
            )
        ]
    )
    body = gzip.compress(export.SerializeToString())
    response = client.post(
        "/otlp/v1/traces", content=body, headers={**PROTOBUF, "Content-Encoding": "gzip"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-protobuf"
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 2
    message = answer.partial_success.error_message
    assert "span 1: span_id" in message and "span 2: actor.id" in message
    events = _events(client)
    assert [e["attributes"]["span_id"] for e in events] == ["01" * 8]
    assert events[0]["source"] == "gateway" and events[0]["action"] == "model.invoke"


def test_recorded_json_traces_and_logs(client: TestClient) -> None:
    body = (FIXTURES / "genai_traces.json").read_bytes()
    response = client.post(
        "/otlp/v1/traces", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {}  # full success: no partialSuccess
    events = {e["attributes"]["span_id"]: e for e in _events(client)}
    assert len(events) == 4  # the static-file span is not GenAI
    agent = events["00f067aa0ba902b7"]
    assert agent["actor"] == {"type": "agent", "id": "asst_5j66UpCpwteGg4YSxUnt7lPY"}
    assert agent["attributes"]["on_behalf_of"] == "bob@example.com"
    assert agent["time"] == "2025-11-30T12:00:00.000000Z"
    chat = events["b7ad6b7169203331"]
    assert chat["resource"] == {"type": "model", "id": "gpt-4", "version": "gpt-4-0613"}
    assert chat["attributes"]["usage"]["total_tokens"] == 99
    assert chat["attributes"]["finish_reasons"] == ["stop"]
    assert chat["attributes"]["response_id"] == "chatcmpl-9J3uIL87gldCFtiIbyaOvTeYBRA3l"
    assert chat["attributes"]["otel"]["duration_ms"] == 2800.0
    tool = events["d75597dee50b0cac"]
    assert tool["action"] == "agent.tool.invoke"
    assert tool["attributes"]["tool"]["call_id"] == "call_VSPygqKTWdrhaFErNvMV18Yl"
    assert events["e1c3a0f2b2d14a55"]["action"] == "model.embed"

    logs = (FIXTURES / "genai_logs.json").read_bytes()
    response = client.post(
        "/otlp/v1/logs", content=logs, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert ExportLogsServiceResponse().ByteSize() == 0 and response.json() == {}
    stored = [e for e in _events(client) if e["attributes"]["otel"]["kind"] == "log"]
    assert sorted(e["action"] for e in stored) == ["gen_ai.evaluation.result", "model.invoke"]
    assert {e["request_id"] for e in stored} == {"4bf92f3577b34da6a3ce929d0e0e4736"}
    # Same body again: duplicates, nothing new.
    again = client.post("/otlp/v1/logs", content=logs, headers={"Content-Type": "application/json"})
    assert again.status_code == 200
    assert len(_events(client)) == 6
    _verified(client)


def test_json_partial_success(client: TestClient) -> None:
    doc = json.loads((FIXTURES / "genai_traces.json").read_bytes())
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[1]["startTimeUnixNano"] = "0"
    response = client.post("/otlp/v1/traces", json=doc)
    assert response.status_code == 200, response.text
    partial = response.json()["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 1  # int64: a string in proto3 JSON
    assert "span 1: time" in partial["errorMessage"]
    assert len(_events(client)) == 3


def test_bad_requests_store_nothing(client: TestClient) -> None:
    head = client.get("/v1/log/head").json()
    cases = [
        (b"not protobuf \xff\xff", PROTOBUF, 422),
        (b"{not json", {"Content-Type": "application/json"}, 422),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
         {"Content-Type": "application/json"}, 422),
        (b'{"resourceSpans": 3}', {"Content-Type": "application/json"}, 422),
        (b'{"resourceSpans": ' + b"[" * 900 + b"]" * 900 + b"}",
         {"Content-Type": "application/json"}, 422),  # deep nesting: a 422, not a 500
        (b"{}", {"Content-Type": "text/plain"}, 415),
    ]  # fmt: skip
    for body, headers, status in cases:
        response = client.post("/otlp/v1/traces", content=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    bad_id = client.post(
        "/otlp/v1/traces",
        content=cases[2][0],
        headers={"Content-Type": "application/json"},
    ).json()
    assert "traceId" in bad_id["detail"]
    assert client.get("/v1/log/head").json() == head


def test_tokens(client: TestClient, make_token: Any) -> None:
    body = (FIXTURES / "genai_traces.json").read_bytes()
    json_type = {"Content-Type": "application/json"}
    anonymous = httpx.Headers(json_type)
    assert (
        client.post(
            "/otlp/v1/traces", content=body, headers={**anonymous, "Authorization": ""}
        ).status_code
        == 401
    )
    reader = {**json_type, "Authorization": f"Bearer {make_token(Scope.read)}"}
    assert client.post("/otlp/v1/traces", content=body, headers=reader).status_code == 403
    bound = {
        **json_type,
        "Authorization": f"Bearer {make_token(Scope.ingest, source='assistants')}",
    }
    response = client.post("/otlp/v1/traces", content=body, headers=bound)
    assert response.status_code == 200, response.text
    events = _events(client)
    assert events and {e["source"] for e in events} == {"assistants"}
    assert {e["origin"] for e in events} != {"server"}


def test_too_many_records_is_413(client: TestClient, app: Any) -> None:
    app.state.settings.max_events_per_request = 2
    body = (FIXTURES / "genai_traces.json").read_bytes()
    response = client.post(
        "/otlp/v1/traces", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413 and "limit is 2" in response.json()["detail"]
    assert _events(client) == []


def test_non_genai_kept_by_configuration(client: TestClient, app: Any) -> None:
    app.state.settings.otlp_keep_non_genai = True
    body = (FIXTURES / "genai_traces.json").read_bytes()
    response = client.post(
        "/otlp/v1/traces", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    kept = [e for e in _events(client) if e["action"] == "otel.span"]
    assert len(kept) == 1 and kept[0]["attributes"]["otel"]["name"] == "GET /static/app.js"
    assert orjson.loads(response.content) == {}


def test_service_named_custody_cannot_forge_server_records(client: TestClient) -> None:
    doc = json.loads((FIXTURES / "genai_traces.json").read_bytes())
    doc["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"] = "custody"
    response = client.post("/otlp/v1/traces", json=doc)
    assert response.status_code == 200, response.text
    partial = response.json()["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 4
    assert "source: source 'custody' is reserved" in partial["errorMessage"]
    assert _events(client) == []
