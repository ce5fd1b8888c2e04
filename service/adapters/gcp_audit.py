"""Google Cloud audit log entries (Vertex AI, `aiplatform.googleapis.com`) -> Custody events."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from service.adapters.common import AdapterError, Event, as_dict, build_event, derived_action, snake

SOURCE = "gcp.audit"

# "<Service>.<Method>" (the last two labels of methodName) -> action. Versions (v1,
# v1beta1, internal) are ignored on purpose: they do not change what the call does.
ACTIONS: dict[str, str] = {
    "PredictionService.Predict": "model.invoke",
    "PredictionService.RawPredict": "model.invoke",
    "PredictionService.StreamRawPredict": "model.invoke",
    "PredictionService.DirectPredict": "model.invoke",
    "PredictionService.DirectRawPredict": "model.invoke",
    "PredictionService.ServerStreamingPredict": "model.invoke",
    "PredictionService.StreamingPredict": "model.invoke",
    "PredictionService.Explain": "model.invoke",
    "PredictionService.GenerateContent": "model.invoke",
    "PredictionService.StreamGenerateContent": "model.invoke",
    "LlmBidiService.BidiGenerateContent": "model.invoke",
    # CountTokens is deliberately unmapped (-> gcp.aiplatform.prediction_service.count_tokens):
    # it generates nothing, and counting it as an invocation would skew usage rules.
    "ModelService.UploadModel": "model.create",
    "ModelService.UpdateModel": "model.update",
    "ModelService.GetModel": "model.read",
    "ModelService.ListModels": "model.enumerate",
    "ModelService.DeleteModel": "model.delete",
    "ModelService.DeleteModelVersion": "model.delete",
    "ModelService.ExportModel": "model.weights.download",
    "EndpointService.DeployModel": "model.deploy",
    "EndpointService.MutateDeployedModel": "model.deploy",
    "EndpointService.DeleteEndpoint": "model.delete",
    "JobService.CreateCustomJob": "training.job.start",
    "JobService.CreateHyperparameterTuningJob": "training.job.start",
    "PipelineService.CreateTrainingPipeline": "training.job.start",
    "DatasetService.ImportData": "dataset.write",
    "DatasetService.ExportData": "dataset.read",
    "DatasetService.DeleteDataset": "dataset.delete",
}

# google.rpc.Code: 7 PERMISSION_DENIED, 16 UNAUTHENTICATED.
_DENIED_CODES = frozenset({7, 16})
# `.../publishers/google/models/gemini-2.0-flash` or `.../endpoints/123`: the last pair.
_PAIR_RE = re.compile(r"([A-Za-z]+)/([^/]+)$")


def render_markdown_table() -> str:
    lines = ["| methodName (`...<Service>.<Method>`) | action |", "|---|---|"]
    lines += [f"| `{method}` | `{action}` |" for method, action in sorted(ACTIONS.items())]
    lines.append("| any other | `gcp.<service>.<service_snake>.<method_snake>` |")
    return "\n".join(lines) + "\n"


def detect(obj: Mapping[str, Any]) -> bool:
    payload = obj.get("protoPayload")
    return isinstance(payload, dict) and (
        "methodName" in payload or "AuditLog" in str(payload.get("@type", ""))
    )


def _action(service_name: Any, method: str) -> str:
    labels = method.split(".")
    key = ".".join(labels[-2:])
    if key in ACTIONS:
        return ACTIONS[key]
    service = str(service_name).split(".", 1)[0] if service_name else "unknown"
    return derived_action("gcp", service, *(snake(label) for label in labels[-2:]))


def _outcome(status: Mapping[str, Any]) -> str:
    code = status.get("code")
    if not code:  # absent or 0 (OK)
        return "success"
    return "denied" if code in _DENIED_CODES else "failure"


def _resource(resource_name: Any) -> dict[str, Any] | None:
    if not isinstance(resource_name, str) or not resource_name:
        return None
    match = _PAIR_RE.search(resource_name)
    if match is None:
        return {"type": "gcp_resource", "id": resource_name}
    collection, name = match.groups()
    kind = snake(collection.removesuffix("s"))
    if "/publishers/" in resource_name and collection == "models":
        # Publisher models are global catalogue names (like Bedrock model ids); the
        # project-scoped path stays in attributes.resource_name.
        return {"type": "model", "id": name}
    return {"type": kind, "id": resource_name}


def to_event(obj: Mapping[str, Any]) -> Event:
    payload = as_dict(obj.get("protoPayload"))
    method = payload.get("methodName")
    if not isinstance(method, str) or not method:
        raise AdapterError("GCP audit entry without protoPayload.methodName")
    if "timestamp" not in obj:
        raise AdapterError("GCP audit entry without timestamp")
    auth = as_dict(payload.get("authenticationInfo"))
    meta = as_dict(payload.get("requestMetadata"))
    status = as_dict(payload.get("status"))
    email = auth.get("principalEmail")
    principal = email or auth.get("principalSubject")
    actor_type = None
    if isinstance(principal, str):
        actor_type = "service_account" if principal.endswith("gserviceaccount.com") else "user"
    authorization = payload.get("authorizationInfo")
    first_auth = {}
    if isinstance(authorization, list) and authorization:
        first_auth = as_dict(authorization[0])
    log_name = obj.get("logName")
    key_name = auth.get("serviceAccountKeyName")
    attributes = {
        "method_name": method,
        "service_name": payload.get("serviceName"),
        "resource_name": payload.get("resourceName"),
        "project_id": as_dict(as_dict(obj.get("resource")).get("labels")).get("project_id"),
        # cloudaudit.googleapis.com%2Fdata_access -> data_access
        "log_type": str(log_name).rsplit("%2F", 1)[-1].rsplit("/", 1)[-1] if log_name else None,
        "severity": obj.get("severity"),
        "permission": first_auth.get("permission"),
        "service_account_key_name": key_name,
        # A user-managed key is a long-lived secret that can leak, unlike attached identities.
        "credential_kind": "user_managed_key" if key_name else None,
        "error_code": status.get("code") or None,
        "error_message": status.get("message"),
    }
    return build_event(
        source=SOURCE,
        event_id=obj.get("insertId"),
        time=obj.get("timestamp"),
        action=_action(payload.get("serviceName"), method),
        outcome=_outcome(status),
        actor={
            "type": actor_type,
            "id": principal,
            "ip": meta.get("callerIp"),
            "user_agent": meta.get("callerSuppliedUserAgent"),
        },
        resource=_resource(payload.get("resourceName")),
        request_id=as_dict(obj.get("operation")).get("id"),
        attributes=attributes,
        raw=obj,
    )
