"""OpenTelemetry GenAI semantic conventions to Custody events.

One GenAI span (or log record) is one event. `gen_ai.operation.name` picks the action;
the agent, when the span names one, is the actor (type `agent`) and the end user
(`enduser.id`, `user.id`) the principal it acts for (`attributes.on_behalf_of`). The trace
id becomes `request_id`, so `GET /v1/replay?trace_id=` finds one run; span ids go to
`attributes`. Prompt and completion content lands in `raw.content` (erasable like all of
the payload); everything else of the original record is kept under `raw` too.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

import orjson

from service.otlp.decode import Item

ACTIONS = {
    "chat": "model.invoke",
    "text_completion": "model.invoke",
    "generate_content": "model.invoke",
    "embeddings": "model.embed",
    "invoke_agent": "agent.invoke",
    "create_agent": "agent.create",
    "execute_tool": "agent.tool.invoke",
    "retrieval": "agent.retrieve",
    "retrieve": "agent.retrieve",
}
CONTENT_KEYS = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "gen_ai.tool.definitions",
        "gen_ai.prompt",
        "gen_ai.completion",
    }
)
API_KEY_ATTRIBUTES = ("custody.api_key_id", "api_key.id", "gen_ai.request.api_key_id")
_SOURCE_BAD = re.compile(r"[^A-Za-z0-9_.:/@-]")
_OP_BAD = re.compile(r"[^a-z0-9_]")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


class MappingError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def is_genai(item: Item) -> bool:
    return any(key.startswith("gen_ai.") for key in item.attributes) or item.name.startswith(
        "gen_ai."
    )


def source_name(resource: dict[str, Any]) -> str:
    """`service.name` made into a valid source (the SDK default is `unknown_service`)."""
    name = str(resource.get("service.name") or "otel")
    cleaned = _SOURCE_BAD.sub("-", name).lstrip("_.:/@-")[:128]
    return cleaned or "otel"


def _time(ns: int) -> str:
    if ns <= 0:
        raise MappingError("time", "start time is missing (time_unix_nano is 0)")
    try:
        when = datetime.fromtimestamp(ns / 1e9, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise MappingError("time", f"time_unix_nano {ns} is out of range") from None
    return when.isoformat().replace("+00:00", "Z")


def _str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _content(value: Any) -> Any:
    # The SDK can only send strings: structured messages arrive as JSON text.
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None and v != {} and v != ""}


def _usage(a: dict[str, Any]) -> dict[str, Any]:
    tokens_in = a.get("gen_ai.usage.input_tokens", a.get("gen_ai.usage.prompt_tokens"))
    tokens_out = a.get("gen_ai.usage.output_tokens", a.get("gen_ai.usage.completion_tokens"))
    usage = {"input_tokens": tokens_in, "output_tokens": tokens_out}
    if isinstance(tokens_in, int) or isinstance(tokens_out, int):
        total = (tokens_in if isinstance(tokens_in, int) else 0) + (
            tokens_out if isinstance(tokens_out, int) else 0
        )
        usage["total_tokens"] = total
    return _compact(usage)


def _tool_names(definitions: Any) -> list[str] | None:
    """Names of the tools an agent was given (`gen_ai.tool.definitions`): what it may call."""
    parsed = _content(definitions)
    if not isinstance(parsed, list):
        return None
    names = {
        d.get("name") or (d.get("function") or {}).get("name")
        for d in parsed
        if isinstance(d, dict)
    }
    return sorted(n for n in names if isinstance(n, str) and n) or None


def _operation(item: Item) -> str:
    op = item.attributes.get("gen_ai.operation.name")
    if isinstance(op, str) and op:
        return op
    return "event" if item.kind == "log" else "span"


def _action(item: Item, op: str, genai: bool) -> str:
    if not genai:
        return f"otel.{item.kind}"
    if op in ACTIONS:
        return ACTIONS[op]
    if item.kind == "log" and op == "event":
        # A GenAI event without an operation (evaluation results, older message events)
        # keeps its own name: gen_ai.evaluation.result.
        parts = [_OP_BAD.sub("_", p) for p in item.name.lower().split(".") if p]
        return ".".join(parts) if len(parts) > 1 else "gen_ai.event"
    return "gen_ai." + (_OP_BAD.sub("_", op.lower()) or "unknown")


def _ids(item: Item) -> tuple[str, str, str | None]:
    if len(item.trace_id) != 32 or item.trace_id == _ZERO_TRACE:
        if item.kind == "span":
            raise MappingError("trace_id", "must be 16 bytes and not all zero")
        return "", "", None
    if len(item.span_id) != 16 or item.span_id == _ZERO_SPAN:
        if item.kind == "span":
            raise MappingError("span_id", "must be 8 bytes and not all zero")
        return item.trace_id, "", None
    parent = item.parent_span_id if item.parent_span_id not in ("", _ZERO_SPAN) else None
    if parent is not None and len(parent) != 16:
        raise MappingError("parent_span_id", "must be 8 bytes")
    return item.trace_id, item.span_id, parent


def to_event(
    item: Item, *, keep_non_genai: bool, bound_source: str | None
) -> dict[str, Any] | None:
    """The Custody event for one span or log record; None when it is not kept."""
    genai = is_genai(item)
    if not genai and not keep_non_genai:
        return None
    a = item.attributes
    trace_id, span_id, parent_span_id = _ids(item)
    op = _operation(item)
    action = _action(item, op, genai)
    service = str(item.resource.get("service.name") or "") or None
    on_behalf_of = _str(a.get("enduser.id") or a.get("user.id"))
    agent_id = _str(a.get("gen_ai.agent.id"))
    agent_name = _str(a.get("gen_ai.agent.name"))
    model = _str(a.get("gen_ai.request.model"))
    response_model = _str(a.get("gen_ai.response.model"))
    tool = _compact(
        {
            "name": _str(a.get("gen_ai.tool.name")),
            "call_id": _str(a.get("gen_ai.tool.call.id")),
            "type": _str(a.get("gen_ai.tool.type")),
        }
    )

    actor: dict[str, Any]
    if (agent_id or agent_name) and op != "create_agent":
        actor = {"type": "agent", "id": agent_id or agent_name}
    elif on_behalf_of:
        actor = {"type": "user", "id": on_behalf_of}
    else:
        actor = {"type": "service", "id": service or "unknown_service"}
    if ip := _str(a.get("client.address")):
        actor["ip"] = ip
    if user_agent := _str(a.get("user_agent.original")):
        actor["user_agent"] = user_agent[:1024]

    resource: dict[str, Any] | None = None
    if action in ("model.invoke", "model.embed") and (model or response_model):
        resource = _compact(
            {"type": "model", "id": model or response_model, "version": response_model}
        )
    elif action in ("agent.invoke", "agent.create") and (agent_id or agent_name):
        resource = {"type": "agent", "id": agent_id or agent_name}
    elif action == "agent.tool.invoke" and tool.get("name"):
        resource = {"type": "tool", "id": tool["name"]}
    elif action == "agent.retrieve" and (ds := _str(a.get("gen_ai.data_source.id"))):
        resource = {"type": "data_source", "id": ds}

    duration = None
    if item.end_ns and item.start_ns and item.end_ns >= item.start_ns:
        duration = round((item.end_ns - item.start_ns) / 1e6, 3)
    api_key_id = next((_str(a[k]) for k in API_KEY_ATTRIBUTES if a.get(k)), None)
    attributes = _compact(
        {
            "trace_id": trace_id or None,
            "span_id": span_id or None,
            "parent_span_id": parent_span_id,
            "otel": _compact(
                {
                    "kind": item.kind,
                    "name": item.name or None,
                    "span_kind": item.span_kind or None,
                    "service": service,
                    "scope": item.scope,
                    "duration_ms": duration,
                    "status": item.status_message or None,
                    "severity": item.severity or None,
                }
            ),
            "operation": op if genai else None,
            "provider": _str(a.get("gen_ai.provider.name") or a.get("gen_ai.system")),
            "model": model,
            "response_model": response_model,
            "response_id": _str(a.get("gen_ai.response.id")),
            "finish_reasons": a.get("gen_ai.response.finish_reasons"),
            "usage": _usage(a),
            "agent": _compact({"id": agent_id, "name": agent_name}),
            "tool": tool,
            "conversation_id": _str(a.get("gen_ai.conversation.id")),
            "data_source_id": _str(a.get("gen_ai.data_source.id")),
            "on_behalf_of": on_behalf_of if on_behalf_of != actor["id"] else None,
            "api_key_id": api_key_id,
            "allowed_tools": _tool_names(a.get("gen_ai.tool.definitions")),
            "error_type": _str(a.get("error.type")),
        }
    )
    content = _compact({k.removeprefix("gen_ai."): _content(a[k]) for k in CONTENT_KEYS if k in a})
    if item.kind == "log" and item.body is not None:
        content["body"] = _content(item.body)
    raw = _compact(
        {
            "resource": item.resource,
            "attributes": {k: v for k, v in a.items() if k not in CONTENT_KEYS},
            "content": content,
            **item.extra,
        }
    )
    if item.kind == "span":
        event_id = f"otel:{trace_id}:{span_id}"
    else:
        digest = hashlib.sha256(
            orjson.dumps([item.start_ns, item.name, a, item.body], option=orjson.OPT_SORT_KEYS)
        ).hexdigest()[:32]
        event_id = f"otel:{trace_id or '-'}:{span_id or '-'}:{digest}"
    outcome = "unknown"
    if item.kind == "span":
        outcome = "failure" if item.status_code == 2 or a.get("error.type") else "success"
    return _compact(
        {
            "id": event_id,
            "time": _time(item.start_ns),
            # A source-bound token writes its own source whatever the SDK calls itself.
            "source": None if bound_source else source_name(item.resource),
            "action": action,
            "outcome": outcome,
            "actor": actor,
            "resource": resource,
            "request_id": trace_id or None,
            "attributes": attributes,
            "raw": raw,
        }
    )
