"""GenAI events as log records, from the real SDK log exporter: stored, and placed under
the span they were emitted in by the causal replay. Both databases."""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi.testclient import TestClient
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from service.auth.schemas import Scope
from tests.otlp.agentrun import provider


def test_sdk_log_records_join_their_span(client: TestClient, server: str, make_token: Any) -> None:
    token = make_token(Scope.ingest)
    resource = Resource.create({"service.name": "support-agent"})
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(
        BatchLogRecordProcessor(
            OTLPLogExporter(
                endpoint=f"{server}/otlp/v1/logs",
                headers={"Authorization": f"Bearer {token}"},
                compression=Compression.Gzip,
            )
        )
    )
    tp = provider(server, token)
    tracer, logger = tp.get_tracer("app"), lp.get_logger("app")
    with tracer.start_as_current_span(
        "chat gpt-4o",
        attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"},
    ) as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        span_id = format(span.get_span_context().span_id, "016x")
        logger.emit(
            LogRecord(
                event_name="gen_ai.client.inference.operation.details",
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.input_tokens": 10,
                    "enduser.id": "carol@example.com",
                    "gen_ai.input.messages": json.dumps([{"role": "user", "content": "hi"}]),
                },
            )
        )
        logger.emit(LogRecord(body="plain application log"))  # not GenAI: dropped
    assert tp.force_flush(10_000) and lp.force_flush(10_000)
    tp.shutdown()
    lp.shutdown()

    response = client.get("/v1/replay", params={"trace_id": trace_id})
    lines = [orjson.loads(line) for line in response.text.splitlines()]
    nodes, trailer = lines[:-1], lines[-1]["trailer"]
    assert trailer["verified"] is True and trailer["tree"]["nodes"] == 2
    span_node, log_node = nodes
    assert span_node["attributes"]["otel"]["kind"] == "span"
    assert log_node["attributes"]["otel"]["kind"] == "log"
    assert log_node["attributes"]["span_id"] == span_id
    assert log_node["tree"]["parent_seq"] == span_node["seq"] and log_node["tree"]["depth"] == 1
    assert log_node["actor"] == {"type": "user", "id": "carol@example.com"}
    assert log_node["raw"]["content"]["input.messages"] == [{"role": "user", "content": "hi"}]
