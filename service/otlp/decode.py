"""OTLP request bodies (protobuf or JSON) into plain spans and log records.

Both encodings go through the `opentelemetry-proto` messages, so a JSON body is checked
against the same schema as a protobuf one. OTLP JSON differs from protobuf's canonical
JSON in one way that matters here: trace and span ids are hex, not base64.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass, field
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from service.auditlog.parse import media_type
from service.errors import InvalidInput, UnsupportedMediaType

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})
_MAX_SAFE = 2**53 - 1
MAX_DEPTH = 128
SPAN_KINDS = {
    0: "unspecified",
    1: "internal",
    2: "server",
    3: "client",
    4: "producer",
    5: "consumer",
}


@dataclass(slots=True)
class Item:
    """One span or log record with its resource and scope, ids in lowercase hex."""

    kind: str  # "span" | "log"
    resource: dict[str, Any]
    scope: str | None
    attributes: dict[str, Any]
    trace_id: str
    span_id: str
    parent_span_id: str = ""
    name: str = ""
    span_kind: str = ""
    start_ns: int = 0
    end_ns: int = 0
    status_code: int = 0
    status_message: str = ""
    body: Any = None
    severity: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def encoding(content_type: str | None) -> str:
    kind = media_type(content_type)
    if kind in {PROTOBUF, "application/protobuf"}:
        return PROTOBUF
    if kind == JSON:
        return JSON
    raise UnsupportedMediaType(
        f"Content-Type {kind or '(none)'} is not accepted; send application/x-protobuf "
        "or application/json (OTLP/HTTP)"
    )


def _hex_ids_to_base64(value: Any, path: str = "$", depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        # Deeper than any OTLP message protobuf would parse: refuse before Python's
        # recursion limit turns it into a 500.
        raise InvalidInput(
            f"The body nests deeper than {MAX_DEPTH} levels",
            errors=[{"field": path, "message": "nested too deeply"}],
        )
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in _ID_KEYS and isinstance(item, str):
                try:
                    item = base64.b64encode(bytes.fromhex(item)).decode()
                except ValueError:
                    raise InvalidInput(
                        f"{path}.{key} must be hex-encoded (OTLP JSON)",
                        errors=[{"field": f"{path}.{key}", "message": "not hex"}],
                    ) from None
            out[key] = _hex_ids_to_base64(item, f"{path}.{key}", depth + 1)
        return out
    if isinstance(value, list):
        return [_hex_ids_to_base64(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
    return value


def parse_message(body: bytes, content_type: str | None, message: Message) -> str:
    """Fill `message` from the body; returns the encoding (answer in the same one)."""
    kind = encoding(content_type)
    if kind == PROTOBUF:
        try:
            message.ParseFromString(body)
        except DecodeError as exc:
            raise InvalidInput(f"The body is not a valid OTLP protobuf message: {exc}") from None
        return kind
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"Malformed JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidInput("Expected an OTLP JSON object")
    try:
        json_format.ParseDict(_hex_ids_to_base64(value), message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise InvalidInput(
            f"The body is not a valid OTLP JSON message: {exc}",
            errors=[{"field": "$", "message": str(exc)}],
        ) from None
    return kind


def any_value(value: AnyValue) -> Any:
    """An OTLP AnyValue as JSON (I-JSON: large integers and non-finite floats as text)."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "bool_value":
        return value.bool_value
    if which == "int_value":
        n = value.int_value
        return n if abs(n) <= _MAX_SAFE else str(n)
    if which == "double_value":
        d = value.double_value
        return d if math.isfinite(d) else str(d)
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def attributes(kvs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    kv: KeyValue
    for kv in kvs:
        out[kv.key] = any_value(kv.value)
    return out


def _hex(raw: bytes) -> str:
    return binascii.hexlify(raw).decode()


def spans(request: ExportTraceServiceRequest) -> list[Item]:
    out: list[Item] = []
    for rs in request.resource_spans:
        resource = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for span in ss.spans:
                out.append(
                    Item(
                        kind="span",
                        resource=resource,
                        scope=ss.scope.name or None,
                        attributes=attributes(span.attributes),
                        trace_id=_hex(span.trace_id),
                        span_id=_hex(span.span_id),
                        parent_span_id=_hex(span.parent_span_id),
                        name=span.name,
                        span_kind=SPAN_KINDS.get(span.kind, str(span.kind)),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        status_code=span.status.code,
                        status_message=span.status.message,
                        extra={
                            "events": [
                                {"name": e.name, "attributes": attributes(e.attributes)}
                                for e in span.events
                            ]
                        }
                        if span.events
                        else {},
                    )
                )
    return out


def log_records(request: ExportLogsServiceRequest) -> list[Item]:
    out: list[Item] = []
    for rl in request.resource_logs:
        resource = attributes(rl.resource.attributes)
        for sl in rl.scope_logs:
            for record in sl.log_records:
                attrs = attributes(record.attributes)
                out.append(
                    Item(
                        kind="log",
                        resource=resource,
                        scope=sl.scope.name or None,
                        attributes=attrs,
                        trace_id=_hex(record.trace_id),
                        span_id=_hex(record.span_id),
                        name=record.event_name or str(attrs.get("event.name", "")),
                        start_ns=record.time_unix_nano or record.observed_time_unix_nano,
                        body=any_value(record.body) if record.HasField("body") else None,
                        severity=record.severity_text,
                    )
                )
    return out
