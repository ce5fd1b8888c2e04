"""OTLP ingest benchmark: GenAI spans over /otlp/v1/traces versus the same events over
POST /v1/events, both to a live `custody serve`, in the same run.

    .venv/bin/python bench/otlp.py [--spans 50000] [--batch 512] [--backend postgresql sqlite]

The baseline is Custody's own ingest of the events the mapping produces (JSON, same batch
size), so the ratio is the cost of protobuf decoding plus the GenAI mapping on top of the
normal validation and chaining. Both paths end with the chain verified.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import live_server, make_token, rate, scratch_database
from service.otlp.decode import spans as decode_spans
from service.otlp.genai import to_event

T0 = 1_764_504_000_000_000_000


def _kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def genai_spans(n: int, *, seed: int = 7) -> list[Span]:
    """Agent runs of ~5 spans: invoke_agent, chat with usage and content, tool calls."""
    rng = random.Random(seed)
    out: list[Span] = []
    for i in range(n):
        trace = rng.randbytes(16)
        op = ("invoke_agent", "chat", "chat", "execute_tool", "execute_tool")[i % 5]
        attrs = [
            _kv("gen_ai.operation.name", op),
            _kv("gen_ai.agent.id", f"agt-{rng.randrange(20)}"),
            _kv("enduser.id", f"user{rng.randrange(500)}@example.com"),
            _kv("gen_ai.conversation.id", f"conv-{i // 5}"),
        ]
        if op == "chat":
            attrs += [
                _kv("gen_ai.request.model", "gpt-4o"),
                _kv("gen_ai.response.model", "gpt-4o-2024-08-06"),
                _kv("gen_ai.usage.input_tokens", rng.randrange(50, 4000)),
                _kv("gen_ai.usage.output_tokens", rng.randrange(10, 800)),
                _kv("gen_ai.input.messages", '[{"role":"user","parts":[{"type":"text","content":"'
                    + "lorem ipsum " * 20 + '"}]}]'),
            ]  # fmt: skip
        if op == "execute_tool":
            attrs += [_kv("gen_ai.tool.name", rng.choice(["search_kb", "fetch_url", "http_post"]))]
        out.append(
            Span(
                trace_id=trace,
                span_id=rng.randbytes(8),
                parent_span_id=rng.randbytes(8) if op != "invoke_agent" else b"",
                name=op,
                start_time_unix_nano=T0 + i * 1_000_000,
                end_time_unix_nano=T0 + i * 1_000_000 + 500_000,
                attributes=attrs,
            )
        )
    return out


def otlp_batches(spans: list[Span], batch: int) -> list[bytes]:
    resource = {"attributes": [_kv("service.name", "support-agent")]}
    return [
        ExportTraceServiceRequest(
            resource_spans=[
                ResourceSpans(
                    resource=resource, scope_spans=[ScopeSpans(spans=spans[i : i + batch])]
                )
            ]
        ).SerializeToString()
        for i in range(0, len(spans), batch)
    ]


def event_batches(otlp: list[bytes]) -> list[bytes]:
    out = []
    for body in otlp:
        request = ExportTraceServiceRequest.FromString(body)
        events = [
            to_event(item, keep_non_genai=False, bound_source=None)
            for item in decode_spans(request)
        ]
        out.append(orjson.dumps(events))
    return out


def timed(url: str, path: str, content_type: str, batches: list[bytes]) -> float:
    token = make_token(url)
    with live_server(url, CUSTODY_RUN_BACKGROUND="false") as server:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
        with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:
            post: Callable[[bytes], httpx.Response] = lambda body: client.post(path, content=body)  # noqa: E731
            started = time.perf_counter()
            for body in batches:
                post(body).raise_for_status()
            elapsed = time.perf_counter() - started
            check = client.get("/v1/log/verify", timeout=600).json()
            assert check["ok"], check
            assert client.get("/v1/log/head").json()["seq"] >= sum(1 for _ in batches)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--backend", nargs="+", default=["postgresql", "sqlite"])
    args = parser.parse_args()

    otlp = otlp_batches(genai_spans(args.spans), args.batch)
    events = event_batches(otlp)
    print(
        f"{args.spans:,} GenAI spans in batches of {args.batch}: protobuf "
        f"{sum(map(len, otlp)) / args.spans:.0f} B/span, as events {sum(map(len, events)) / args.spans:.0f} B/event"
    )
    for backend in args.backend:
        with scratch_database(backend) as url:
            base = timed(url, "/v1/events", "application/json", events)
        with scratch_database(backend) as url:
            spans = timed(url, "/otlp/v1/traces", "application/x-protobuf", otlp)
        print(
            f"{backend:>10}  POST /v1/events {rate(args.spans, base)}   "
            f"OTLP {rate(args.spans, spans)}   ratio (OTLP / events) {base / spans:.2f}"
        )


if __name__ == "__main__":
    main()
