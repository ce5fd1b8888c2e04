"""CloudTrail adapter against the real Stratus, SumoLogic and AWS-docs samples."""

from __future__ import annotations

import copy
import json
from collections import Counter
from typing import Any

import pytest

from service.adapters import detect_format, load_file, normalize, normalize_lines
from service.adapters.cloudtrail import ACTIONS, render_markdown_table
from tests.adapters.helpers import check_event, fixture

STRATUS_BEDROCK = "stratus/aws.impact.bedrock-invoke-model.json"


def _by_name(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["attributes"]["event_name"]: e for e in events}


def test_stratus_llmjacking_chain() -> None:
    events = normalize(load_file(fixture(STRATUS_BEDROCK)))
    assert len(events) == 15
    for event in events:
        check_event(event)
        assert event["source"] == "aws.cloudtrail"
        assert event["outcome"] == "success"
        assert event["actor"] == {
            "type": "role_session",
            "id": "arn:aws:sts::494659789341:assumed-role/test-role/cli",
            "ip": "035.249.253.232",  # zero-padded octets kept exactly as logged
            "user_agent": "stratus-red-team_e0cb7ef1-0d48-463f-8988-277de94752b6",
        }
        assert event["attributes"]["role_arn"] == "arn:aws:iam::494659789341:role/test-role"
        assert event["attributes"]["access_key_id"] == "ASIA6FTSFH98XNF7DFZB"
        assert event["attributes"]["credential_kind"] == "temporary"
        assert event["attributes"]["region"] == "megov-northeast-1r"
    assert Counter(e["action"] for e in events) == {
        "model.enumerate": 11,  # 10x GetFoundationModelAvailability + agreement offers
        "model.access.enable": 3,
        "model.invoke": 1,
    }
    invoke = _by_name(events)["InvokeModel"]
    assert invoke["id"] == "51d580ea-04f5-421c-b733-b5e4ec485a6e"
    assert invoke["request_id"] == "021634af-f7c2-48a2-b140-98f50d47ede9"
    assert invoke["time"] == "2024-10-17T20:11:24.000Z"
    assert invoke["resource"] == {"type": "model", "id": "anthropic.claude-3-sonnet-20240229-v1:0"}
    assert invoke["attributes"]["host"] == "bedrock-runtime.megov-northeast-1r.amazonaws.com"
    # PutUseCaseForModelAccess has no requestParameters: no resource, still an event.
    assert "resource" not in _by_name(events)["PutUseCaseForModelAccess"]


def test_stratus_admin_user_backdoor() -> None:
    events = _by_name(
        normalize(load_file(fixture("stratus/aws.persistence.iam-create-admin-user.json")))
    )
    assert {name: e["action"] for name, e in events.items()} == {
        "CreateUser": "user.create",
        "AttachUserPolicy": "policy.update",
        "CreateAccessKey": "apikey.create",
    }
    for event in events.values():
        check_event(event)
        assert event["actor"]["id"] == "arn:aws:iam::229654561268:user/christophe"
        assert event["actor"]["type"] == "user"
        assert event["actor"]["ip"] == "075.050.255.67"
        assert event["resource"] == {"type": "user", "id": "malicious-iam-user"}
    attach = events["AttachUserPolicy"]["attributes"]
    assert attach["policy_arn"] == "arn:aws:iam::aws:policy/AdministratorAccess"
    key = events["CreateAccessKey"]
    raw_key = key["raw"]["responseElements"]["accessKey"]["accessKeyId"]
    assert key["attributes"]["created_access_key_id"] == raw_key


def test_stratus_backdoor_role() -> None:
    events = _by_name(
        normalize(load_file(fixture("stratus/aws.persistence.iam-create-backdoor-role.json")))
    )
    assert events["CreateRole"]["action"] == "policy.update"
    assert events["AttachRolePolicy"]["action"] == "policy.update"
    for event in events.values():
        check_event(event)
        assert event["resource"] == {"type": "role", "id": "stratus-red-team-malicious-iam-role"}
        assert event["actor"]["id"] == "arn:aws:iam::609418236337:user/christophe"
    # The trust policy (a JSON string in the request) stays verbatim in raw.
    policy = events["CreateRole"]["raw"]["requestParameters"]["assumeRolePolicyDocument"]
    assert isinstance(policy, str)
    assert '"Principal"' in policy


def test_sumologic_invoke_model_long_term_key() -> None:
    [event] = normalize(
        load_file(fixture("cloudtrail-bedrock/sumologic_doc_bedrock_invokemodel.json"))
    )
    check_event(event)
    assert event["action"] == "model.invoke"
    assert event["outcome"] == "success"
    assert event["actor"]["id"] == "arn:aws:iam::956882123456:user/himan"
    assert event["actor"]["type"] == "user"
    assert event["actor"]["ip"] == "182.70.74.235"
    assert event["actor"]["user_agent"].startswith("Boto3/1.34.162")
    assert event["attributes"]["credential_kind"] == "long_term"
    assert event["attributes"]["access_key_id"] == "AKIA12345EXAMPLE67890"
    assert event["resource"] == {"type": "model", "id": "anthropic.claude-3-5-sonnet-20240620-v1:0"}
    assert event["id"] == "a8d388e2-3111-44bf-b78f-b0e263dc3d25"


def test_sagemaker_samples() -> None:
    [endpoint] = normalize(
        load_file(fixture("cloudtrail-sagemaker/awsdocs_sagemaker_createendpoint.json"))
    )
    [model] = normalize(
        load_file(fixture("cloudtrail-sagemaker/awsdocs_sagemaker_createmodel.json"))
    )
    [tags] = normalize(
        load_file(fixture("cloudtrail-sagemaker/sumologic_doc_sagemaker_listtags.json"))
    )
    for event in (endpoint, model, tags):
        check_event(event)
    assert endpoint["action"] == "model.deploy"
    assert endpoint["resource"] == {"type": "endpoint", "id": "ExampleEndpoint"}
    assert model["action"] == "model.create"
    assert model["resource"] == {"type": "model", "id": "ExampleModel"}
    assert model["attributes"]["execution_role_arn"] == "arn:aws:iam::123456789012:role/EXAMPLEARN"
    # An unmapped call keeps a derived action; AWS Config acting is an aws_service actor.
    assert tags["action"] == "aws.sagemaker.list_tags"
    assert tags["actor"]["type"] == "aws_service"
    assert tags["actor"]["ip"] == "config.amazonaws.com"
    assert tags["attributes"]["invoked_by"] == "config.amazonaws.com"
    assert tags["resource"] == {
        "type": "notebook_instance",
        "id": "arn:aws:sagemaker:us-east-1:956882708938:notebook-instance/anemaNoteBook",
    }


def _record(**overrides: Any) -> dict[str, Any]:
    records = load_file(fixture(STRATUS_BEDROCK))
    record: dict[str, Any] = copy.deepcopy(
        next(r for r in records if r["eventName"] == "InvokeModel")
    )
    record.update(overrides)
    return record


@pytest.mark.parametrize(
    ("error_code", "outcome"),
    [
        (None, "success"),
        ("AccessDenied", "denied"),
        ("AccessDeniedException", "denied"),
        ("Client.UnauthorizedOperation", "denied"),
        ("ValidationException", "failure"),
        ("ThrottlingException", "failure"),
    ],
)
def test_outcome_from_error_code(error_code: str | None, outcome: str) -> None:
    record = _record(errorCode=error_code, errorMessage="nope" if error_code else None)
    [event] = normalize(record)
    check_event(event)
    assert event["outcome"] == outcome
    assert event["action"] == "model.invoke"
    assert event["attributes"].get("error_code") == error_code


def test_envelopes_records_bare_array_eventbridge_and_ndjson() -> None:
    record = _record()
    [plain] = normalize(record)
    assert normalize({"Records": [record]}) == [plain]
    assert normalize([record]) == [plain]
    assert normalize_lines([json.dumps(record), "", json.dumps(record)]) == [plain, plain]
    envelope = {
        "version": "0",
        "id": "6f2f8f5e-eventbridge",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.bedrock",
        "detail": record,
    }
    assert detect_format(envelope) == "cloudtrail"
    [wrapped] = normalize(envelope)
    assert wrapped["raw"] == envelope  # what was received is what is kept
    assert {k: v for k, v in wrapped.items() if k != "raw"} == {
        k: v for k, v in plain.items() if k != "raw"
    }


def test_unknown_event_names_get_a_derived_action() -> None:
    cases = {
        ("bedrock.amazonaws.com", "ListGuardrails"): "aws.bedrock.list_guardrails",
        ("bedrock.amazonaws.com", "GetModelInvocationLoggingConfiguration"): (
            "aws.bedrock.get_model_invocation_logging_configuration"
        ),
        ("rds.amazonaws.com", "DescribeDBInstances"): "aws.rds.describe_db_instances",
        ("s3.amazonaws.com", "GetObject"): "aws.s3.get_object",
        ("bedrock-agent.amazonaws.com", "CreateAgent"): "aws.bedrock_agent.create_agent",
    }
    for (source, name), action in cases.items():
        [event] = normalize(_record(eventSource=source, eventName=name))
        check_event(event)
        assert event["action"] == action


def test_console_login_success_and_failure() -> None:
    base = _record(eventSource="signin.amazonaws.com", eventName="ConsoleLogin")
    ok = dict(base, responseElements={"ConsoleLogin": "Success"})
    bad = dict(
        base, responseElements={"ConsoleLogin": "Failure"}, errorMessage="Failed authentication"
    )
    [ok_event, bad_event] = normalize([ok, bad])
    assert (ok_event["action"], ok_event["outcome"]) == ("auth.login.success", "success")
    assert (bad_event["action"], bad_event["outcome"]) == ("auth.login.failure", "failure")


@pytest.mark.parametrize(
    ("identity", "expected_type"),
    [
        ({"type": "IAMUser", "arn": "arn:aws:iam::1:user/a"}, "user"),
        ({"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/r/s"}, "role_session"),
        ({"type": "Root", "arn": "arn:aws:iam::1:root"}, "root"),
        ({"type": "AWSService", "invokedBy": "bedrock.amazonaws.com"}, "aws_service"),
        ({"type": "FederatedUser", "arn": "arn:aws:sts::1:federated-user/f"}, "federated_user"),
        (
            {"type": "IAMUser", "arn": "arn:aws:iam::1:user/a", "invokedBy": "x.amazonaws.com"},
            "aws_service",
        ),
    ],
)
def test_actor_types(identity: dict[str, str], expected_type: str) -> None:
    [event] = normalize(_record(userIdentity=identity))
    check_event(event)
    assert event["actor"]["type"] == expected_type
    assert event["actor"]["id"] == identity.get("arn", identity.get("invokedBy"))


def test_bearer_token_and_cross_region_inference_attributes() -> None:
    record = _record(
        additionalEventData={"callWithBearerToken": True, "inferenceRegion": "us-west-2"},
        requestParameters={
            "modelId": "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.x"
        },
    )
    [event] = normalize(record)
    assert event["attributes"]["call_with_bearer_token"] is True
    assert event["attributes"]["inference_region"] == "us-west-2"
    # ARNs are kept whole: the account and profile are part of the model's identity.
    assert event["resource"]["id"].startswith("arn:aws:bedrock:us-east-1:111122223333:")


def test_mapping_table_covers_the_brief_and_renders() -> None:
    for name in ("InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream"):
        assert ACTIONS["bedrock", name] == "model.invoke"
    assert ACTIONS["bedrock", "DeleteModelInvocationLoggingConfiguration"] == "logging.disable"
    assert ACTIONS["iam", "CreateAccessKey"] == "apikey.create"
    assert ACTIONS["sts", "AssumeRole"] == "auth.assume_role"
    table = render_markdown_table()
    assert table.startswith("| eventSource | eventName | action |\n|---|---|---|\n")
    assert "| `bedrock.amazonaws.com` | `UpdateGuardrail` | `guardrail.update` |" in table
    assert "auth.login.success / auth.login.failure" in table
    assert table.count("\n") == len(ACTIONS) + 3
