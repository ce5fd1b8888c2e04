"""OpenAI organization audit logs: the official spec examples and edge shapes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from service.adapters import detect_format, load_file, normalize
from service.adapters.openai_audit import render_markdown_table
from tests.adapters.helpers import check_event, fixture

OBJECT = "openai/openai_openapi_auditlog_object.example.json"
LIST = "openai/openai_openapi_list_audit_logs_response.example.json5"


def test_official_single_object() -> None:
    [event] = normalize(load_file(fixture(OBJECT)))
    check_event(event)
    assert event["id"] == "req_xxx_20240101"
    assert event["source"] == "openai.audit"
    assert event["time"] == "2024-07-12T17:08:10.000Z"  # effective_at 1720804090
    assert event["action"] == "apikey.create"
    assert event["outcome"] == "success"
    assert event["actor"] == {
        "type": "user",
        "id": "user@example.com",
        "ip": "127.0.0.1",
        "user_agent": (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/91.0.4472.124 Safari/537.36"
        ),
    }
    assert event["resource"] == {"type": "api_key", "id": "key_xxxx"}
    assert event["attributes"]["scopes"] == ["resource.operation"]
    assert event["attributes"]["user_id"] == "user-xxx"
    # The dotted payload key is kept whole in raw, never split into nested objects.
    assert "api_key.created" in event["raw"]


def test_official_list_response_with_trailing_commas() -> None:
    document = load_file(fixture(LIST))
    assert detect_format(document) == "openai"
    archived, updated = normalize(document)
    for event in (archived, updated):
        check_event(event)
    assert archived["action"] == "openai.project.archived"
    assert archived["resource"] == {"type": "project", "id": "proj_abc"}
    # An api_key actor is attributed to the key's owner; there is no IP for api keys.
    assert archived["actor"] == {"type": "user", "id": "user@example.com"}
    assert archived["attributes"]["credential_kind"] == "api_key"
    assert updated["action"] == "apikey.update"
    assert updated["attributes"]["ja3"] == "a497151ce4338a12c4418c44d375173e"
    assert updated["attributes"]["ip_country"] == "US"
    assert updated["attributes"]["scopes"] == ["resource_2.operation_2"]


def _base() -> dict[str, Any]:
    return copy.deepcopy(load_file(fixture(OBJECT)))


@pytest.mark.parametrize(
    ("kind", "action", "outcome"),
    [
        ("api_key.deleted", "apikey.delete", "success"),
        ("login.succeeded", "auth.login.success", "success"),
        ("login.failed", "auth.login.failure", "failure"),
        ("logout.failed", "openai.logout.failed", "failure"),
        ("role.assignment.created", "role.assignment.create", "success"),
        ("ip_allowlist.config.deactivated", "security_control.disable", "success"),
        ("checkpoint.permission.created", "model.permission.grant", "success"),
        ("service_account.created", "openai.service_account.created", "success"),
        ("tenant.user.role_changed", "openai.tenant.user.role_changed", "success"),
    ],
)
def test_type_mapping(kind: str, action: str, outcome: str) -> None:
    record = _base()
    record["type"] = kind
    [event] = normalize(record)
    check_event(event)
    assert (event["action"], event["outcome"]) == (action, outcome)
    assert event["attributes"]["event_type"] == kind


def test_service_account_key_actor() -> None:
    record = _base()
    record["actor"] = {
        "type": "api_key",
        "api_key": {"id": "key_sa", "type": "service_account", "service_account": {"id": "svc_1"}},
    }
    [event] = normalize(record)
    assert event["actor"] == {"type": "service_account", "id": "svc_1"}
    assert event["attributes"]["api_key_id"] == "key_sa"


def test_markdown_table() -> None:
    table = render_markdown_table()
    assert "| `api_key.created` | `apikey.create` |" in table
    assert "| `login.failed` | `auth.login.failure` |" in table
