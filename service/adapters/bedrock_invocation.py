"""Amazon Bedrock model invocation logs (`schemaType: ModelInvocationLog`) -> Custody events.

Prompts and completions stay only in `raw`; attributes carry counts and verdicts. The
ingest side is where raw payloads get their separate, erasable storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.adapters.common import (
    AdapterError,
    Event,
    as_dict,
    build_event,
    derived_action,
    get_ci,
    snake,
)

SOURCE = "aws.bedrock.invocation"

INVOKE_OPERATIONS = frozenset(
    {"InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream"}
)

_GUARDRAIL_ACTION_KEY = "amazon-bedrock-guardrailAction"


def detect(obj: Mapping[str, Any]) -> bool:
    if obj.get("schemaType") == "ModelInvocationLog":
        return True
    return all(key in obj for key in ("operation", "modelId", "requestId", "identity"))


def _actor_type(arn: str) -> str | None:
    if ":assumed-role/" in arn:
        return "role_session"
    if ":user/" in arn:
        return "user"
    if arn.endswith(":root"):
        return "root"
    return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _stream_usage(chunks: list[Any]) -> tuple[int | None, int | None]:
    """(input, output) tokens summed over Anthropic-native stream chunks."""
    seen = False
    tokens_in = tokens_out = 0
    for chunk in chunks:
        if not isinstance(chunk, dict):
            continue
        usage = as_dict(chunk.get("usage") or as_dict(chunk.get("message")).get("usage"))
        for key, is_input in (("input_tokens", True), ("output_tokens", False)):
            count = _int(usage.get(key))
            if count is not None:
                seen = True
                if is_input:
                    tokens_in += count
                else:
                    tokens_out += count
    return (tokens_in, tokens_out) if seen else (None, None)


def _guardrail(body: Any) -> tuple[bool, list[str]]:
    """(intervened, guardrail ids assessed). Markers are scattered: Converse stopReason,
    a trace object, or a flag inside one stream chunk, so every place is scanned."""
    chunks = body if isinstance(body, list) else [body]
    intervened = False
    ids: list[str] = []
    for chunk in chunks:
        if not isinstance(chunk, dict):
            continue
        if str(get_ci(chunk, _GUARDRAIL_ACTION_KEY) or "").upper() == "INTERVENED":
            intervened = True
        if get_ci(chunk, "stopReason") == "guardrail_intervened":
            intervened = True
        trace = as_dict(get_ci(chunk, "trace") or get_ci(chunk, "amazon-bedrock-trace"))
        guardrail = as_dict(trace.get("guardrail"))
        if str(guardrail.get("actionReason", "")).startswith("Guardrail blocked"):
            intervened = True
        for section, assessments in guardrail.items():
            if section != "actionReason" and isinstance(assessments, dict):
                ids.extend(k for k in assessments if isinstance(k, str) and k not in ids)
    return intervened, ids


def to_event(obj: Mapping[str, Any]) -> Event:
    operation = obj.get("operation")
    if not isinstance(operation, str) or not operation:
        raise AdapterError("Bedrock invocation log without operation")
    if "timestamp" not in obj:
        raise AdapterError("Bedrock invocation log without timestamp")
    arn = as_dict(obj.get("identity")).get("arn")
    model_input = as_dict(obj.get("input"))
    output = as_dict(obj.get("output"))
    body = get_ci(output, "outputBodyJson")
    usage = as_dict(get_ci(body, "usage")) if isinstance(body, dict) else {}
    stream_in, stream_out = _stream_usage(body) if isinstance(body, list) else (None, None)
    tokens_in = _int(usage.get("inputTokens"))
    tokens_out = _int(usage.get("outputTokens"))
    if tokens_in is None:
        tokens_in = _int(model_input.get("inputTokenCount"))
        tokens_in = stream_in if tokens_in is None else tokens_in
    if tokens_out is None:
        tokens_out = _int(output.get("outputTokenCount"))
        tokens_out = stream_out if tokens_out is None else tokens_out
    total = _int(usage.get("totalTokens"))
    if total is None and tokens_in is not None and tokens_out is not None:
        total = tokens_in + tokens_out
    intervened, guardrail_ids = _guardrail(body)
    error_code = obj.get("errorCode")
    if not error_code:
        outcome = "success"
    elif "AccessDenied" in str(error_code):
        outcome = "denied"
    else:
        outcome = "failure"
    attributes = {
        "operation": operation,
        "region": obj.get("region"),
        "account_id": obj.get("accountId"),
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "total_tokens": total,
        "guardrail_intervened": intervened,
        "guardrail_ids": guardrail_ids or None,
        "stop_reason": get_ci(body, "stopReason") if isinstance(body, dict) else None,
        "error_code": error_code,
        "schema_version": obj.get("schemaVersion"),
    }
    return build_event(
        source=SOURCE,
        event_id=obj.get("requestId"),
        time=obj.get("timestamp"),
        action=(
            "model.invoke"
            if operation in INVOKE_OPERATIONS
            else derived_action("aws", "bedrock", snake(operation))
        ),
        outcome=outcome,
        actor={"type": _actor_type(arn) if isinstance(arn, str) else None, "id": arn},
        resource={"type": "model", "id": obj.get("modelId")},
        request_id=obj.get("requestId"),
        attributes=attributes,
        raw=obj,
    )
