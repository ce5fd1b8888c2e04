"""Panther rule tests: their labelled `Log` events, normalized, must carry what each rule
needs. For every test a tiny predicate over *our* event reproduces Panther's verdict
(ExpectedResult), and action/outcome/actor are pinned explicitly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.adapters import NormalizeError, normalize
from tests.adapters.helpers import FIXTURES, check_event

SUPPORTED_LOG_TYPES = {"AWS.CloudTrail", "AWS.BedrockModelInvocation", "OpenAI.Audit"}
Event = dict[str, Any]


def _load(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


def _cases(supported: bool) -> list[Any]:
    cases = []
    for path in sorted((FIXTURES / "panther").glob("*.yml")):
        rule = _load(path)
        if bool(set(rule.get("LogTypes", [])) & SUPPORTED_LOG_TYPES) != supported:
            continue
        for test in rule.get("Tests", []):
            if "Log" in test:
                case_id = f"{path.stem}::{test['Name']}"
                cases.append(pytest.param(path.stem, test, id=case_id))
    return cases


def _attr(event: Event, key: str) -> Any:
    return event.get("attributes", {}).get(key)


_TOKEN_LIMITS = {"haiku": 3000, "sonnet": 4000, "opus": 5000}


def _abnormal_tokens(e: Event) -> bool:
    if _attr(e, "operation") not in {"InvokeModel", "Converse"}:
        return False
    model = e["resource"]["id"]
    limit = next((v for k, v in _TOKEN_LIMITS.items() if k in model), 4000)
    total = _attr(e, "total_tokens") or 0
    return total > limit or (total > 1000 and _attr(e, "output_tokens") == 0)


_ELEVATED_SCOPES = {"all", "models:write", "organization:write", "api_keys:write", "admin"}

# Panther rule (by file) -> the same decision expressed over a normalized event.
RULES: dict[str, Callable[[Event], bool]] = {
    "aws_bedrock_deletemodelinvocationloggingconfiguration": lambda e: (
        e["action"] == "logging.disable" and e["outcome"] == "success"
    ),
    "aws_bedrock_guardrail_update_delete": lambda e: (
        e["action"] in {"guardrail.update", "guardrail.delete"} and e["outcome"] == "success"
    ),
    "aws_bedrockmodelinvocation_abnormaltokenusage": _abnormal_tokens,
    "aws_bedrockmodelinvocation_guardrailintervened": lambda e: (
        _attr(e, "operation") in {"InvokeModel", "Converse"} and _attr(e, "guardrail_intervened")
    ),
    "aws_iam_assume_role_blocklist_ignored": lambda e: (
        e["action"] == "auth.assume_role"
        and e["outcome"] == "success"
        and _attr(e, "identity_type") in {"IAMUser", "FederatedUser"}
        and e["resource"]["id"] == "arn:aws:iam::123456789012:role/FullAdminRole"
    ),
    "aws_iam_attach_admin_role_policy": lambda e: (
        _attr(e, "event_name") == "AttachRolePolicy"
        and e["outcome"] == "success"
        and str(_attr(e, "policy_arn")).endswith("AdministratorAccess")
    ),
    "aws_iam_user_key_created": lambda e: (
        e["action"] == "apikey.create"
        and e["outcome"] == "success"
        and not e["actor"]["id"].endswith(f"user/{e['resource']['id']}")
    ),
    "openai_admin_role_assignment": lambda e: (
        e["action"] == "role.assignment.create"
        and any(word in str(_attr(e, "role")) for word in ("owner", "admin"))
    ),
    "openai_api_key_anomalous_activity": lambda e: (
        e["action"] in {"apikey.create", "apikey.update"}
        and bool(set(_attr(e, "scopes") or []) & _ELEVATED_SCOPES)
    ),
    "openai_credential_stuffing": lambda e: e["action"] == "auth.login.failure",
    "openai_ip_allowlist_changes": lambda e: (
        e["action"] in {"security_control.disable", "security_control.update"}
    ),
}

# (rule file, test name) -> action, outcome, actor id. Pinned so a mapping change is seen.
EXPECTED: dict[tuple[str, str], tuple[str, str, str]] = {}
_DEVADMIN = "arn:aws:sts::123123123123:assumed-role/DevAdmin/dr.evil"
_SUSPICIOUS = "arn:aws:sts::111111111111:assumed-role/role_details/suspicious.user"
_REGULAR = "arn:aws:sts::111111111111:assumed-role/role_details/regular.user"
_LIST_GUARDRAILS = ("aws.bedrock.list_guardrails", "success", _DEVADMIN)
EXPECTED |= {
    ("aws_bedrock_deletemodelinvocationloggingconfiguration", "Model Invocation Logging Configuration Deleted"): ("logging.disable", "success", _DEVADMIN),  # noqa: E501
    ("aws_bedrock_deletemodelinvocationloggingconfiguration", "List Guardrails"): _LIST_GUARDRAILS,
    ("aws_bedrock_guardrail_update_delete", "Guardrail Updated"): ("guardrail.update", "success", _DEVADMIN),  # noqa: E501
    ("aws_bedrock_guardrail_update_delete", "Guardrail Deleted"): ("guardrail.delete", "success", _DEVADMIN),  # noqa: E501
    ("aws_bedrock_guardrail_update_delete", "List Guardrails"): _LIST_GUARDRAILS,
    ("aws_bedrockmodelinvocation_abnormaltokenusage", "Converse Operation Unusual Token Patterns"): ("model.invoke", "success", _SUSPICIOUS),  # noqa: E501
    ("aws_bedrockmodelinvocation_abnormaltokenusage", "Converse Operation with Abnormal Token Usage"): ("model.invoke", "success", _SUSPICIOUS),  # noqa: E501
    ("aws_bedrockmodelinvocation_abnormaltokenusage", "Perform Another Operation"): ("aws.bedrock.list_models", "success", _REGULAR),  # noqa: E501
    ("aws_bedrockmodelinvocation_abnormaltokenusage", "Regular Converse Operation with Normal Token Usage"): ("model.invoke", "success", _REGULAR),  # noqa: E501
    ("aws_bedrockmodelinvocation_guardrailintervened", "Perform Another Operation"): ("aws.bedrock.list_models", "success", _REGULAR),  # noqa: E501
    ("aws_bedrockmodelinvocation_guardrailintervened", "Regular Converse Operation"): ("model.invoke", "success", _REGULAR),  # noqa: E501
    ("aws_bedrockmodelinvocation_guardrailintervened", "Suspicious Converse Operation"): ("model.invoke", "success", _SUSPICIOUS),  # noqa: E501
    ("aws_bedrockmodelinvocation_guardrailintervened", "Suspicious Invoke Operation"): ("model.invoke", "success", _SUSPICIOUS),  # noqa: E501
    ("aws_iam_assume_role_blocklist_ignored", "IAM Blocklisted Role Assumed"): ("auth.assume_role", "success", "arn:aws:iam::123456789012:user/example-user"),  # noqa: E501
    ("aws_iam_assume_role_blocklist_ignored", "IAM Non Blocklisted Role Assumed"): ("auth.assume_role", "success", "arn:aws:iam::123456789012:user/example-user"),  # noqa: E501
    ("aws_iam_assume_role_blocklist_ignored", "Error Assuming IAM Blocked Role"): ("auth.assume_role", "failure", "arn:aws:iam::123456789012:user/example-user"),  # noqa: E501
    ("aws_iam_attach_admin_role_policy", "IAM Role Policy Attached with Administrator Access"): ("policy.update", "success", "arn:aws:sts::123456789012:assumed-role/tester"),  # noqa: E501
    ("aws_iam_attach_admin_role_policy", "IAM Role Policy Attached without Administrator Access"): ("policy.update", "success", "arn:aws:sts::123456789012:assumed-role/tester"),  # noqa: E501
    ("aws_iam_user_key_created", "user1 create keys for user1"): ("apikey.create", "success", "arn:aws:iam::123456789:user/user1"),  # noqa: E501
    ("aws_iam_user_key_created", "user1 create keys for user2"): ("apikey.create", "success", "arn:aws:iam::123456789:user/user1"),  # noqa: E501
    ("aws_iam_user_key_created", "jackson create keys for jack"): ("apikey.create", "success", "arn:aws:iam::123456789:user/jackson"),  # noqa: E501
    ("aws_iam_user_key_created", "jack create keys for jackson"): ("apikey.create", "success", "arn:aws:iam::123456789:user/jack"),  # noqa: E501
    ("aws_iam_user_key_created", "CreateKey returns error code"): ("apikey.create", "failure", "arn:aws:iam::123456789012:user/some_iam_user"),  # noqa: E501
    ("openai_admin_role_assignment", "Admin role assignment - organization owner - Alert"): ("role.assignment.create", "success", "admin@company.com"),  # noqa: E501
    ("openai_admin_role_assignment", "Admin role assignment - contains admin keyword - Alert"): ("role.assignment.create", "success", "superadmin@company.com"),  # noqa: E501
    ("openai_admin_role_assignment", "Group assigned owner role - Alert"): ("role.assignment.create", "success", "admin@company.com"),  # noqa: E501
    ("openai_admin_role_assignment", "Non-admin role assignment - reader - No Alert"): ("role.assignment.create", "success", "admin@company.com"),  # noqa: E501
    ("openai_admin_role_assignment", "Non-admin role assignment - viewer - No Alert"): ("role.assignment.create", "success", "manager@company.com"),  # noqa: E501
    ("openai_admin_role_assignment", "Role assignment removed - No Alert"): ("role.assignment.delete", "success", "admin@company.com"),  # noqa: E501
    ("openai_admin_role_assignment", "Unrelated event type - No Alert"): ("auth.login.success", "success", "user@company.com"),  # noqa: E501
    ("openai_api_key_anomalous_activity", "API key created with read-only scopes - No Alert"): ("apikey.create", "success", "developer@company.com"),  # noqa: E501
    ("openai_api_key_anomalous_activity", "API key with elevated permissions - Alert HIGH"): ("apikey.create", "success", "contractor@external.com"),  # noqa: E501
    ("openai_api_key_anomalous_activity", "API key updated with elevated permissions - Alert HIGH"): ("apikey.update", "success", "intern@company.com"),  # noqa: E501
    ("openai_api_key_anomalous_activity", "API key deleted - No Alert"): ("apikey.delete", "success", "unknown@suspicious.com"),  # noqa: E501
    ("openai_api_key_anomalous_activity", "API key with 'all' scope - Alert HIGH"): ("apikey.create", "success", "suspicious@external.com"),  # noqa: E501
    ("openai_api_key_anomalous_activity", "API key with multiple elevated scopes - Alert HIGH"): ("apikey.create", "success", "compromised@company.com"),  # noqa: E501
    ("openai_api_key_anomalous_activity", "API key updated without elevated scopes - No Alert"): ("apikey.update", "success", "admin@company.com"),  # noqa: E501
    ("openai_api_key_anomalous_activity", "Login event - No Alert"): ("auth.login.success", "success", "user@company.com"),  # noqa: E501
    ("openai_credential_stuffing", "Match - Failed Login"): ("auth.login.failure", "failure", "user@company.com"),  # noqa: E501
    ("openai_credential_stuffing", "Match - Failed Login Different IP"): ("auth.login.failure", "failure", "user@company.com"),  # noqa: E501
    ("openai_credential_stuffing", "No Match - Successful Login"): ("auth.login.success", "success", "user@company.com"),  # noqa: E501
    ("openai_credential_stuffing", "No Match - Non-Login Event"): ("apikey.create", "success", "user@company.com"),  # noqa: E501
    ("openai_ip_allowlist_changes", "IP allowlist deleted - Alert CRITICAL"): ("security_control.disable", "success", "admin@company.com"),  # noqa: E501
    ("openai_ip_allowlist_changes", "IP allowlist deactivated - Alert CRITICAL"): ("security_control.disable", "success", "contractor@external.com"),  # noqa: E501
    ("openai_ip_allowlist_changes", "IP allowlist updated with suspicious IP - Alert HIGH"): ("security_control.update", "success", "admin@company.com"),  # noqa: E501
    ("openai_ip_allowlist_changes", "IP allowlist created - Alert MEDIUM"): ("security_control.update", "success", "admin@company.com"),  # noqa: E501
    ("openai_ip_allowlist_changes", "IP allowlist activated - Alert MEDIUM"): ("security_control.update", "success", "admin@company.com"),  # noqa: E501
    ("openai_ip_allowlist_changes", "Unrelated event - No Alert"): ("auth.login.success", "success", "user@company.com"),  # noqa: E501
}  # fmt: skip


@pytest.mark.parametrize(("rule", "test"), _cases(supported=True))
def test_panther_log_normalizes_and_reproduces_the_verdict(rule: str, test: dict[str, Any]) -> None:
    [event] = normalize(test["Log"])
    check_event(event)
    assert (event["action"], event["outcome"], event["actor"]["id"]) == EXPECTED[rule, test["Name"]]
    assert bool(RULES[rule](event)) is test["ExpectedResult"]
    assert event["raw"] == test["Log"]


def test_every_supported_panther_test_is_pinned() -> None:
    names = {(rule, test["Name"]) for rule, test in (c.values for c in _cases(supported=True))}
    assert names == set(EXPECTED)


def test_panther_time_formats() -> None:
    by_name = {test["Name"]: test["Log"] for _, test in (c.values for c in _cases(True))}
    [nanos] = normalize(by_name["Guardrail Deleted"])  # "2025-01-21 18:12:33.000000000"
    assert nanos["time"] == "2025-01-21T18:12:33.000Z"
    [plain] = normalize(by_name["user1 create keys for user2"])  # "2022-09-27 17:09:18"
    assert plain["time"] == "2022-09-27T17:09:18.000Z"
    assert plain["resource"] == {"type": "user", "id": "user2"}
    assert plain["actor"]["type"] == "aws_service"  # invokedBy cloudformation


def test_panther_openai_payload_key_variants() -> None:
    by_name = {test["Name"]: test["Log"] for _, test in (c.values for c in _cases(True))}
    [created] = normalize(by_name["API key with 'all' scope - Alert HIGH"])
    assert created["resource"] == {"type": "api_key", "id": "key-child001"}
    assert created["attributes"]["api_key_id"] == "key-parent001"
    assert created["attributes"]["scopes"] == ["all"]
    [failed] = normalize(by_name["Match - Failed Login"])
    assert failed["attributes"]["error_code"] == "invalid_credentials"
    [owner] = normalize(by_name["Group assigned owner role - Alert"])
    assert owner["attributes"]["role"] == "role-api-organization-owner"
    assert owner["attributes"]["principal_id"] == "group-engineering001"


@pytest.mark.parametrize(("rule", "test"), _cases(supported=False))
def test_unsupported_log_types_are_refused_not_misread(rule: str, test: dict[str, Any]) -> None:
    # Anthropic activity events have no adapter yet: they must not pass as another format.
    assert rule.startswith("anthropic_")
    with pytest.raises(NormalizeError, match="item 0: unrecognized record format"):
        normalize(test["Log"])
