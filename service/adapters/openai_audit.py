"""OpenAI organization audit logs (`GET /v1/organization/audit_logs`) -> Custody events.

The payload sits under a key equal to the event type, dots included
(`"api_key.created": {...}`); Panther's normalized copies rename it `api_key_created`.
Both are looked up as whole keys, never split on dots.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.adapters.common import AdapterError, Event, as_dict, build_event, derived_action

SOURCE = "openai.audit"

ACTIONS: dict[str, str] = {
    "api_key.created": "apikey.create",
    "api_key.updated": "apikey.update",
    "api_key.deleted": "apikey.delete",
    "login.succeeded": "auth.login.success",
    "login.failed": "auth.login.failure",
    # A role assignment grants an org/project role to a principal. It is neither a policy
    # document edit nor model-scoped, so it keeps its own verb; attributes.role carries
    # the role parsed from the assignment id (owner, admin, reader...) for rules.
    "role.assignment.created": "role.assignment.create",
    "role.assignment.deleted": "role.assignment.delete",
    # Sharing a fine-tuned checkpoint is exactly a model permission grant.
    "checkpoint.permission.created": "model.permission.grant",
    "checkpoint.permission.deleted": "model.permission.revoke",
    # Removing an access control, whatever the product calls it.
    "ip_allowlist.deleted": "security_control.disable",
    "ip_allowlist.config.deactivated": "security_control.disable",
    "scim.disabled": "security_control.disable",
    "ip_allowlist.created": "security_control.update",
    "ip_allowlist.updated": "security_control.update",
    "ip_allowlist.config.activated": "security_control.update",
    "scim.enabled": "security_control.update",
}

_FAILED_TYPES = frozenset({"login.failed", "logout.failed"})


def render_markdown_table() -> str:
    lines = ["| OpenAI `type` | action |", "|---|---|"]
    lines += [f"| `{kind}` | `{action}` |" for kind, action in sorted(ACTIONS.items())]
    lines.append("| any other | `openai.<type>` (dots kept) |")
    return "\n".join(lines) + "\n"


def records(payload: Any) -> list[Any] | None:
    """The items of a list response `{"object": "list", "data": [...]}`, else None."""
    if (
        isinstance(payload, dict)
        and payload.get("object") == "list"
        and isinstance(payload.get("data"), list)
    ):
        return list(payload["data"])
    return None


def detect(obj: Mapping[str, Any]) -> bool:
    return (
        isinstance(obj.get("type"), str)
        and "effective_at" in obj
        and (isinstance(obj.get("actor"), dict) or obj.get("object") == "organization.audit_log")
    )


def _payload(obj: Mapping[str, Any], kind: str) -> dict[str, Any]:
    for key in (kind, kind.replace(".", "_")):
        value = obj.get(key)
        if isinstance(value, dict):
            return value
    return {}


def _actor(obj: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(actor, attributes). The actor is the human or service account behind the call;
    the API key used, if any, goes to attributes like an AWS access key id."""
    actor = as_dict(obj.get("actor"))
    actor_kind = actor.get("type")
    if actor_kind == "session":
        session = as_dict(actor.get("session"))
        user = as_dict(session.get("user"))
        details = as_dict(session.get("ip_address_details"))
        return (
            {
                "type": "user",
                "id": user.get("email") or user.get("id"),
                "ip": session.get("ip_address"),
                "user_agent": session.get("user_agent"),
            },
            {
                "credential_kind": "session",
                "user_id": user.get("id"),
                "ip_country": details.get("country"),
                "ip_asn": details.get("asn"),
                "ja3": session.get("ja3"),
                "ja4": session.get("ja4"),
            },
        )
    if actor_kind == "api_key":
        key = as_dict(actor.get("api_key"))
        user = as_dict(key.get("user"))
        service_account = as_dict(key.get("service_account"))
        if service_account:
            principal = {"type": "service_account", "id": service_account.get("id")}
        else:
            principal = {"type": "user", "id": user.get("email") or user.get("id")}
        if principal["id"] is None:
            principal = {"type": "api_key", "id": key.get("id")}
        return principal, {
            "credential_kind": "api_key",
            "api_key_id": key.get("id"),
            "user_id": user.get("id"),
        }
    return {"type": actor_kind}, {}


def _role_from_assignment(assignment_id: Any) -> str | None:
    # role_assignment_role-api-organization-owner__api-organization__org-abc_user-x
    if not isinstance(assignment_id, str) or not assignment_id.startswith("role_assignment_"):
        return None
    return assignment_id.removeprefix("role_assignment_").split("__", 1)[0] or None


def to_event(obj: Mapping[str, Any]) -> Event:
    kind = obj.get("type")
    if not isinstance(kind, str) or not kind:
        raise AdapterError("OpenAI audit log without type")
    if "effective_at" not in obj:
        raise AdapterError("OpenAI audit log without effective_at")
    payload = _payload(obj, kind)
    actor, actor_attributes = _actor(obj)
    data = as_dict(payload.get("data"))
    scopes = data.get("scopes")
    project = as_dict(obj.get("project"))
    resource_type = kind.rsplit(".", 1)[0].replace(".", "_") if "." in kind else kind
    attributes = {
        "event_type": kind,
        **actor_attributes,
        "project_id": project.get("id"),
        "scopes": [s for s in scopes if isinstance(s, str)] if isinstance(scopes, list) else None,
        "error_code": payload.get("error_code"),
        "error_message": payload.get("error_message"),
    }
    if kind.startswith("role.assignment."):
        attributes |= {
            "role": _role_from_assignment(payload.get("id")),
            "principal_id": payload.get("principal_id"),
            "principal_type": payload.get("principal_type"),
            "target_resource_id": payload.get("resource_id"),
            "target_resource_type": payload.get("resource_type"),
        }
    return build_event(
        source=SOURCE,
        event_id=obj.get("id"),
        time=obj.get("effective_at"),
        action=ACTIONS.get(kind) or derived_action("openai", kind),
        outcome="failure" if kind in _FAILED_TYPES else "success",
        actor=actor,
        resource={"type": resource_type, "id": payload.get("id")} if payload.get("id") else None,
        request_id=None,
        attributes=attributes,
        raw=obj,
    )
