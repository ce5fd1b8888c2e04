"""A three-level agent run traced with the real OpenTelemetry SDK, as an app would."""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode


def provider(url: str, token: str, service: str = "support-agent") -> TracerProvider:
    exporter = OTLPSpanExporter(
        endpoint=f"{url}/otlp/v1/traces",
        headers={"Authorization": f"Bearer {token}"},
        compression=Compression.Gzip,
    )
    tp = TracerProvider(resource=Resource.create({"service.name": service}))
    tp.add_span_processor(BatchSpanProcessor(exporter))
    return tp


def agent_run(tp: TracerProvider, *, user: str = "alice@example.com") -> dict[str, Any]:
    """orchestrator -> (chat, researcher -> (fetch_url tool, chat), http_post tool);
    returns the hex ids of the spans by role."""
    tracer = tp.get_tracer("custody-tests")
    ids: dict[str, Any] = {}
    common = {"enduser.id": user, "gen_ai.conversation.id": "conv-42"}
    with tracer.start_as_current_span(
        "invoke_agent orchestrator",
        kind=SpanKind.INTERNAL,
        attributes={
            **common,
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.id": "agt-orch",
            "gen_ai.agent.name": "orchestrator",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
        },
    ) as root:
        ids["trace_id"] = format(root.get_span_context().trace_id, "032x")
        ids["root"] = format(root.get_span_context().span_id, "016x")
        with tracer.start_as_current_span(
            "chat gpt-4o",
            kind=SpanKind.CLIENT,
            attributes={
                **common,
                "gen_ai.operation.name": "chat",
                "gen_ai.agent.id": "agt-orch",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 120,
                "gen_ai.usage.output_tokens": 30,
                "api_key.id": "key-7",
                "gen_ai.input.messages": json.dumps(
                    [{"role": "user", "parts": [{"type": "text", "content": "secret prompt"}]}]
                ),
                "gen_ai.output.messages": json.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": "ok"}]}]
                ),
            },
        ) as chat:
            ids["chat"] = format(chat.get_span_context().span_id, "016x")
        with tracer.start_as_current_span(
            "invoke_agent researcher",
            attributes={
                **common,
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.id": "agt-research",
                "gen_ai.agent.name": "researcher",
            },
        ) as sub:
            ids["researcher"] = format(sub.get_span_context().span_id, "016x")
            with tracer.start_as_current_span(
                "execute_tool fetch_url",
                attributes={
                    **common,
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.agent.id": "agt-research",
                    "gen_ai.tool.name": "fetch_url",
                    "gen_ai.tool.call.id": "call-1",
                    "gen_ai.tool.type": "function",
                },
            ) as tool:
                ids["fetch"] = format(tool.get_span_context().span_id, "016x")
        with tracer.start_as_current_span(
            "execute_tool http_post",
            attributes={
                **common,
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.agent.id": "agt-orch",
                "gen_ai.tool.name": "http_post",
                "gen_ai.tool.call.id": "call-2",
                "error.type": "timeout",
            },
        ) as post:
            post.set_status(Status(StatusCode.ERROR, "upstream timed out"))
            ids["post"] = format(post.get_span_context().span_id, "016x")
        with tracer.start_as_current_span("GET /healthz", kind=SpanKind.SERVER):
            pass  # not GenAI: dropped by default
    return ids
