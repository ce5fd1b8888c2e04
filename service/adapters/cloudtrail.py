"""AWS CloudTrail records (Bedrock, SageMaker, IAM, STS, sign-in) -> Custody events.

Accepted shapes: a raw record, an EventBridge envelope (`detail` holds the record), and
(through `records`) `{"Records": [...]}` documents. Panther-normalized records (space
instead of `T` in `eventTime`) parse too.
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
    snake,
)

SOURCE = "aws.cloudtrail"

# (service = first label of eventSource, eventName) -> action. Keyed by service because
# names such as ListTags or CreateModel mean different things in different services.
ACTIONS: dict[tuple[str, str], str] = {
    # Bedrock runtime: the calls that spend tokens.
    ("bedrock", "InvokeModel"): "model.invoke",
    ("bedrock", "InvokeModelWithResponseStream"): "model.invoke",
    ("bedrock", "Converse"): "model.invoke",
    ("bedrock", "ConverseStream"): "model.invoke",
    # Bedrock discovery: the reconnaissance step of LLMjacking.
    ("bedrock", "ListFoundationModels"): "model.enumerate",
    ("bedrock", "GetFoundationModel"): "model.enumerate",
    ("bedrock", "GetFoundationModelAvailability"): "model.enumerate",
    ("bedrock", "ListFoundationModelAgreementOffers"): "model.enumerate",
    ("bedrock", "ListProvisionedModelThroughputs"): "model.enumerate",
    # Bedrock model access: what an attacker does before invoking a model never used.
    ("bedrock", "PutUseCaseForModelAccess"): "model.access.enable",
    ("bedrock", "PutFoundationModelEntitlement"): "model.access.enable",
    ("bedrock", "CreateFoundationModelAgreement"): "model.access.enable",
    ("bedrock", "AcceptAgreementRequest"): "model.access.enable",
    # Bedrock invocation logging and guardrails: defence evasion.
    ("bedrock", "DeleteModelInvocationLoggingConfiguration"): "logging.disable",
    ("bedrock", "PutModelInvocationLoggingConfiguration"): "logging.config.update",
    ("bedrock", "CreateGuardrail"): "guardrail.create",
    ("bedrock", "UpdateGuardrail"): "guardrail.update",
    ("bedrock", "DeleteGuardrail"): "guardrail.delete",
    ("bedrock", "PutEnforcedGuardrailConfiguration"): "guardrail.update",
    ("bedrock", "DeleteEnforcedGuardrailConfiguration"): "guardrail.delete",
    # Bedrock custom models and capacity.
    ("bedrock", "CreateModelCustomizationJob"): "training.job.start",
    ("bedrock", "CreateModelImportJob"): "model.create",
    ("bedrock", "DeleteCustomModel"): "model.delete",
    ("bedrock", "CreateProvisionedModelThroughput"): "model.deploy",
    ("bedrock", "UpdateProvisionedModelThroughput"): "model.deploy",
    ("bedrock", "DeleteProvisionedModelThroughput"): "model.delete",
    ("bedrock", "CreateMarketplaceModelEndpoint"): "model.deploy",
    # SageMaker. CreateEndpointConfig is deliberately unmapped: it only stages a
    # configuration, and counting it as a deploy would double-count every deployment.
    ("sagemaker", "CreateModel"): "model.create",
    ("sagemaker", "CreateModelPackage"): "model.create",
    ("sagemaker", "CreateEndpoint"): "model.deploy",
    ("sagemaker", "UpdateEndpoint"): "model.deploy",
    ("sagemaker", "DeleteModel"): "model.delete",
    ("sagemaker", "DeleteEndpoint"): "model.delete",
    ("sagemaker", "DescribeModel"): "model.read",
    ("sagemaker", "ListModels"): "model.enumerate",
    ("sagemaker", "ListEndpoints"): "model.enumerate",
    ("sagemaker", "CreateTrainingJob"): "training.job.start",
    # IAM: credentials and privilege.
    ("iam", "CreateAccessKey"): "apikey.create",
    ("iam", "UpdateAccessKey"): "apikey.update",
    ("iam", "DeleteAccessKey"): "apikey.delete",
    ("iam", "CreateUser"): "user.create",
    ("iam", "CreateRole"): "policy.update",
    ("iam", "AttachRolePolicy"): "policy.update",
    ("iam", "PutRolePolicy"): "policy.update",
    ("iam", "AttachUserPolicy"): "policy.update",
    ("iam", "PutUserPolicy"): "policy.update",
    ("iam", "AttachGroupPolicy"): "policy.update",
    ("iam", "PutGroupPolicy"): "policy.update",
    ("iam", "CreatePolicyVersion"): "policy.update",
    ("iam", "UpdateAssumeRolePolicy"): "policy.update",
    # STS and console sign-in.
    ("sts", "AssumeRole"): "auth.assume_role",
    ("sts", "AssumeRoleWithSAML"): "auth.assume_role",
    ("sts", "AssumeRoleWithWebIdentity"): "auth.assume_role",
    # Resolved to auth.login.success / auth.login.failure from responseElements.
    ("signin", "ConsoleLogin"): "auth.login",
}

_ACTOR_TYPES = {
    "iamuser": "user",
    "assumedrole": "role_session",
    "root": "root",
    "awsservice": "aws_service",
    "federateduser": "federated_user",
    "samluser": "federated_user",
    "webidentityuser": "federated_user",
    "awsaccount": "aws_account",
    "identitycenteruser": "user",
}

# requestParameters key -> resource type, in priority order: the first present wins.
# roleName precedes userName only because no mapped call carries both.
_RESOURCE_KEYS: tuple[tuple[str, str], ...] = (
    ("modelId", "model"),
    ("guardrailIdentifier", "guardrail"),
    ("endpointName", "endpoint"),
    ("modelName", "model"),
    ("trainingJobName", "training_job"),
    ("endpointConfigName", "endpoint_config"),
    ("roleName", "role"),
    ("userName", "user"),
    ("roleArn", "role"),
)

_DENIED_MARKERS = ("AccessDenied", "UnauthorizedOperation")


def render_markdown_table() -> str:
    """The CloudTrail mapping as a Markdown table (for README), sorted by service/event."""
    lines = ["| eventSource | eventName | action |", "|---|---|---|"]
    for (service, name), action in sorted(ACTIONS.items()):
        shown = "auth.login.success / auth.login.failure" if action == "auth.login" else action
        lines.append(f"| `{service}.amazonaws.com` | `{name}` | `{shown}` |")
    lines.append(
        "| any | any other | `aws.<service>.<event_name>` (service: eventSource's first label) |"
    )
    return "\n".join(lines) + "\n"


def records(payload: Any) -> list[Any] | None:
    """The records inside a `{"Records": [...]}` document, or None if it is not one."""
    if isinstance(payload, dict) and isinstance(payload.get("Records"), list):
        return list(payload["Records"])
    return None


def _unwrap(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    detail = obj.get("detail")
    if isinstance(detail, dict) and "eventName" in detail:
        return detail
    return obj


def detect(obj: Mapping[str, Any]) -> bool:
    record = _unwrap(obj)
    return isinstance(record.get("eventName"), str) and (
        "eventSource" in record or "userIdentity" in record or "eventVersion" in record
    )


def _service(event_source: Any) -> str:
    if isinstance(event_source, str) and event_source:
        return event_source.split(".", 1)[0]
    return "unknown"


def _outcome(record: Mapping[str, Any], name: str) -> str:
    error_code = record.get("errorCode")
    if name == "ConsoleLogin":
        # Failed console sign-ins carry no errorCode, only ConsoleLogin: "Failure".
        result = as_dict(record.get("responseElements")).get("ConsoleLogin")
        if result == "Failure" or (error_code and result != "Success"):
            return "failure"
        return "success"
    if not error_code:
        return "success"
    if any(marker in str(error_code) for marker in _DENIED_MARKERS):
        return "denied"
    return "failure"


def _action(service: str, name: str, outcome: str) -> str:
    action = ACTIONS.get((service, name))
    if action == "auth.login":
        return "auth.login.success" if outcome == "success" else "auth.login.failure"
    return action or derived_action("aws", service, snake(name))


def _actor(record: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(actor, identity attributes) from userIdentity."""
    identity = as_dict(record.get("userIdentity"))
    raw_type = identity.get("type")
    invoked_by = identity.get("invokedBy")
    actor_type = None
    if isinstance(raw_type, str) and raw_type:
        actor_type = _ACTOR_TYPES.get(raw_type.lower(), snake(raw_type))
    if invoked_by:
        # A call AWS made on the principal's behalf (Config, CloudFormation): keeping it
        # apart stops service traffic from polluting "new principal" baselines.
        actor_type = "aws_service"
    actor_id = (
        identity.get("arn")
        or invoked_by
        or identity.get("principalId")
        or identity.get("accountId")
    )
    key = identity.get("accessKeyId")
    kind = None
    if isinstance(key, str):
        kind = {"AKIA": "long_term", "ASIA": "temporary"}.get(key[:4])
    issuer = as_dict(as_dict(identity.get("sessionContext")).get("sessionIssuer"))
    actor = {
        "type": actor_type,
        "id": actor_id,
        "ip": record.get("sourceIPAddress"),  # kept as given: DNS names, zero-padded octets
        "user_agent": record.get("userAgent"),
    }
    attributes = {
        "identity_type": raw_type,
        "invoked_by": invoked_by,
        "access_key_id": key,
        "credential_kind": kind,
        "role_arn": issuer.get("arn"),
        "account_id": identity.get("accountId"),
    }
    return actor, attributes


def _arn_resource_type(arn: str) -> str:
    # arn:aws:sagemaker:us-east-1:123:notebook-instance/name -> notebook_instance
    parts = arn.split(":", 5)
    tail = parts[5] if len(parts) == 6 else arn
    return snake(tail.split("/", 1)[0].split(":", 1)[0])


def _resource(record: Mapping[str, Any]) -> dict[str, Any] | None:
    params = as_dict(record.get("requestParameters"))
    response = as_dict(record.get("responseElements"))
    for key, kind in _RESOURCE_KEYS:
        value = params.get(key)
        if isinstance(value, str) and value:
            version = params.get("guardrailVersion") if kind == "guardrail" else None
            return {"type": kind, "id": value, "version": version}
    # CreateAccessKey for oneself has no userName parameter; the response names the user.
    key_owner = as_dict(response.get("accessKey")).get("userName")
    if isinstance(key_owner, str):
        return {"type": "user", "id": key_owner}
    arn = params.get("resourceArn")
    if isinstance(arn, str) and arn:
        return {"type": _arn_resource_type(arn), "id": arn}
    resources = record.get("resources")
    if isinstance(resources, list) and resources:
        first = as_dict(resources[0])
        arn = first.get("ARN") or first.get("arn")
        if isinstance(arn, str):
            aws_type = str(first.get("type") or "")
            kind = snake(aws_type.rsplit("::", 1)[-1]) if aws_type else _arn_resource_type(arn)
            return {"type": kind, "id": arn}
    return None


def to_event(obj: Mapping[str, Any]) -> Event:
    record = _unwrap(obj)
    name = record.get("eventName")
    if not isinstance(name, str) or not name:
        raise AdapterError("CloudTrail record without eventName")
    if "eventTime" not in record:
        raise AdapterError("CloudTrail record without eventTime")
    service = _service(record.get("eventSource"))
    outcome = _outcome(record, name)
    actor, identity_attributes = _actor(record)
    params = as_dict(record.get("requestParameters"))
    response = as_dict(record.get("responseElements"))
    extra = as_dict(record.get("additionalEventData"))
    attributes = {
        "event_source": record.get("eventSource"),
        "event_name": name,
        "region": record.get("awsRegion"),
        "recipient_account_id": record.get("recipientAccountId"),
        "error_code": record.get("errorCode"),
        "error_message": record.get("errorMessage"),
        "read_only": record.get("readOnly") if isinstance(record.get("readOnly"), bool) else None,
        **identity_attributes,
        "policy_arn": params.get("policyArn"),
        # The role a SageMaker model or job will run as (the PassRole-relevant field);
        # sts AssumeRole's roleArn is the resource instead.
        "execution_role_arn": params.get("executionRoleArn")
        or (params.get("roleArn") if service == "sagemaker" else None),
        # The key an IAM CreateAccessKey minted: lets rules follow it into later calls.
        "created_access_key_id": as_dict(response.get("accessKey")).get("accessKeyId"),
        "call_with_bearer_token": extra.get("callWithBearerToken"),
        "inference_region": extra.get("inferenceRegion"),
        "host": as_dict(record.get("tlsDetails")).get("clientProvidedHostHeader"),
    }
    return build_event(
        source=SOURCE,
        event_id=record.get("eventID"),
        time=record.get("eventTime"),
        action=_action(service, name, outcome),
        outcome=outcome,
        actor=actor,
        resource=_resource(record),
        request_id=record.get("requestID"),
        attributes=attributes,
        raw=obj,
    )
