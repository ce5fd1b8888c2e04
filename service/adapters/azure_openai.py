"""Azure OpenAI diagnostic logs (Audit, RequestResponse) and the API Management
GatewayLogs in front of them -> Custody events."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from service.adapters.common import (
    AdapterError,
    Event,
    as_dict,
    build_event,
    content_id,
    derived_action,
    snake,
)

SOURCE = "azure.openai"

CATEGORIES = frozenset({"Audit", "RequestResponse", "Trace", "GatewayLogs"})

# operationName (or APIM operationId) -> action.
ACTIONS: dict[str, str] = {
    "ChatCompletions_Create": "model.invoke",
    "Completions_Create": "model.invoke",
    "Embeddings_Create": "model.invoke",
    "ImageGenerations_Create": "model.invoke",
    "Responses_Create": "model.invoke",
    "Models_List": "model.enumerate",
    "Deployments_List": "model.enumerate",
    # ListKey returns the account's secret keys themselves, so it reads a credential.
    "ListKey": "apikey.read",
}

_DEPLOYMENT_RE = re.compile(r"/deployments/([^/?]+)")


def render_markdown_table() -> str:
    lines = ["| operationName / operationId | action |", "|---|---|"]
    lines += [f"| `{name}` | `{action}` |" for name, action in sorted(ACTIONS.items())]
    lines.append("| any other | `azure.openai.<operation_snake>` |")
    return "\n".join(lines) + "\n"


def detect(obj: Mapping[str, Any]) -> bool:
    return (
        obj.get("category") in CATEGORIES
        and isinstance(obj.get("operationName"), str)
        and isinstance(obj.get("resourceId"), str)
    )


def _properties(obj: Mapping[str, Any]) -> dict[str, Any]:
    # Diagnostic settings sometimes ship `properties` as a JSON-encoded string.
    value = obj.get("properties")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return as_dict(value)


def _json_body(text: Any) -> dict[str, Any]:
    if not isinstance(text, str):
        return {}
    try:
        return as_dict(json.loads(text))
    except ValueError:
        return {}


def _status_outcome(status: int | None) -> str:
    if status is None:
        return "unknown"
    if status < 400:
        return "success"
    return "denied" if status in (401, 403) else "failure"


def _status(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)  # resultSignature is the HTTP status as a string
    return None


def to_event(obj: Mapping[str, Any]) -> Event:
    operation = obj.get("operationName")
    if not isinstance(operation, str) or not operation:
        raise AdapterError("Azure diagnostic record without operationName")
    if "time" not in obj:
        raise AdapterError("Azure diagnostic record without time")
    props = _properties(obj)
    gateway = obj.get("category") == "GatewayLogs"
    if gateway:
        operation = str(props.get("operationId") or operation)
        status = _status(props.get("responseCode"))
    else:
        status = _status(obj.get("resultSignature"))
    response = _json_body(props.get("responseBody")) if gateway else {}
    error = as_dict(response.get("error"))
    usage = as_dict(response.get("usage"))
    deployment = props.get("modelDeploymentName")
    if deployment is None:
        found = _DEPLOYMENT_RE.search(str(props.get("backendUrl") or props.get("url") or ""))
        deployment = found.group(1) if found else None
    resource = (
        {"type": "model", "id": deployment, "version": props.get("modelVersion")}
        if deployment
        else {"type": "azure_resource", "id": obj.get("resourceId")}
    )
    object_id = props.get("objectId") or None
    attributes = {
        "category": obj.get("category"),
        "operation_name": operation,
        "azure_resource_id": obj.get("resourceId"),
        "location": obj.get("location"),
        "status_code": status,
        "duration_ms": obj.get("durationMs"),
        "api_name": props.get("apiName"),
        "stream_type": props.get("streamType"),
        "model_name": props.get("modelName") or response.get("model"),
        "input_tokens": usage.get("prompt_tokens"),
        "output_tokens": usage.get("completion_tokens"),
        "total_tokens": usage.get("total_tokens"),
        "error_code": error.get("code"),
        "error_inner_code": as_dict(error.get("innererror")).get("code"),
        # Azure's content filter is its guardrail; same attribute name as for Bedrock.
        "guardrail_intervened": (error.get("code") == "content_filter") if gateway else None,
    }
    return build_event(
        source=SOURCE,
        # correlationId repeats across records (two RequestResponse lines share one), so
        # the only stable unique key is the record's content.
        event_id=content_id(obj),
        time=obj.get("time"),
        action=ACTIONS.get(operation) or derived_action("azure", "openai", snake(operation)),
        outcome=_status_outcome(status),
        actor={
            "type": "entra_principal" if object_id else None,
            "id": object_id,
            "ip": obj.get("callerIpAddress"),
        },
        resource=resource,
        request_id=obj.get("correlationId"),
        attributes=attributes,
        raw=obj,
    )
