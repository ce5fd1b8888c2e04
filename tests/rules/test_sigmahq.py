"""SigmaHQ rules run unmodified: vendor logsources read the original record under `raw`
through pySigma processing pipelines, only for events from that logsource's adapter."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from service.rules import Engine, load_rules
from service.rules.logsources import mapping_markdown
from service.rules.model import Firing, Rule
from tests.rules import sigmahq
from tests.rules.conftest import LoadText
from tests.rules.sigmahq import BACKDOOR_KEYS, GUARDRAIL_DELETED, GUARDRAIL_UPDATED, SIGMA


def fired(rules: list[Rule], events: list[dict[str, Any]]) -> list[Firing]:
    engine = Engine(rules)
    return [f for e in events for f in engine.process(e)]


def real_rules() -> list[Rule]:
    rules, errors = load_rules(directory=SIGMA)
    assert not errors, [str(e) for e in errors]
    return rules


def vendor_rule(logsource: str, detection: str, *, rid: str) -> str:
    return (
        f"title: vendor {rid}\nid: {rid}\nlevel: medium\nlogsource: {logsource}\n"
        f"detection:\n{detection}\n"
    )


def test_corpus_all_three_real_rules_load_and_none_crashes() -> None:
    files = sorted(SIGMA.glob("*.yml"))
    assert len(files) == 3
    rules = real_rules()
    assert sorted(r.id for r in rules) == sorted(
        [GUARDRAIL_DELETED, GUARDRAIL_UPDATED, BACKDOOR_KEYS]
    )
    assert all(r.emits and r.predicate is not None for r in rules)
    # Unmodified: the loaded rule's document is the file's content.
    for rule in rules:
        assert rule.document["logsource"] == {"product": "aws", "service": "cloudtrail"}


@pytest.mark.parametrize(
    ("rule_id", "call"),
    [(GUARDRAIL_DELETED, "DeleteGuardrail"), (GUARDRAIL_UPDATED, "UpdateGuardrail")],
)
def test_guardrail_rules_fire_on_their_call_only(rule_id: str, call: str) -> None:
    records = [
        sigmahq.bedrock_call(call, 0, guardrailIdentifier="gr-prod"),
        # Near misses: the other guardrail call, a create, and the real InvokeModel.
        sigmahq.bedrock_call(
            "UpdateGuardrail" if call == "DeleteGuardrail" else "DeleteGuardrail", 10
        ),
        sigmahq.bedrock_call("CreateGuardrail", 20, guardrailName="gr-new"),
        sigmahq.bedrock_invoke(),
    ]
    events = sigmahq.events(records)
    rules = [r for r in real_rules() if r.id == rule_id]
    assert [(f.rule_id, f.evidence) for f in fired(rules, events)] == [(rule_id, (1,))]


def test_guardrail_rule_needs_the_bedrock_event_source() -> None:
    record = sigmahq.bedrock_call("DeleteGuardrail", guardrailIdentifier="gr-prod")
    record["eventSource"] = "sagemaker.amazonaws.com"  # same name, another service
    (rule,) = [r for r in real_rules() if r.id == GUARDRAIL_DELETED]
    assert fired([rule], sigmahq.events([record])) == []


def test_backdoor_keys_fires_on_the_real_stratus_create_access_key() -> None:
    events = sigmahq.events(sigmahq.iam_admin_user())
    names = [e["raw"]["eventName"] for e in events]
    assert names == ["AttachUserPolicy", "CreateAccessKey", "CreateUser"]
    (rule,) = [r for r in real_rules() if r.id == BACKDOOR_KEYS]
    assert [f.evidence for f in fired([rule], events)] == [(2,)]  # near misses: seq 1, 3


def test_backdoor_keys_filter_is_a_literal_string_as_in_every_sigma_backend() -> None:
    """`userIdentity.arn|contains: responseElements.accessKey.userName` compares with that
    text, not with the other field (that would need `|fieldref`): a key created for
    oneself fires too, exactly as the rule is written upstream."""
    record = copy.deepcopy(sigmahq.iam_admin_user()[1])
    user = record["responseElements"]["accessKey"]["userName"]
    record["userIdentity"]["arn"] = f"arn:aws:iam::123456789012:user/{user}"
    (rule,) = [r for r in real_rules() if r.id == BACKDOOR_KEYS]
    assert len(fired([rule], sigmahq.events([record]))) == 1
    record["userIdentity"]["arn"] = "arn:aws:iam::1:user/responseElements.accessKey.userName"
    assert fired([rule], sigmahq.events([record])) == []


def test_vendor_rule_ignores_a_native_event_carrying_the_same_raw_record() -> None:
    """Only events from the CloudTrail adapter (source aws.cloudtrail) are CloudTrail."""
    (event,) = sigmahq.events([sigmahq.bedrock_call("DeleteGuardrail", guardrailIdentifier="g")])
    (rule,) = [r for r in real_rules() if r.id == GUARDRAIL_DELETED]
    assert len(fired([rule], [event])) == 1
    forged = {**event, "source": "my-gateway"}
    assert fired([rule], [forged]) == []


def test_gcp_rule_names_map_to_the_log_entry(load_text: LoadText) -> None:
    lines = (sigmahq.REAL / "vertex" / "gcp_vertexai_auditlogs.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    method = record["protoPayload"]["methodName"]
    rules = load_text(
        vendor_rule(
            "{product: gcp, service: gcp.audit}",
            f"  sel:\n    gcp.audit.method_name: '{method}'\n  condition: sel",
            rid="7d3c8c43-6b1a-4a3e-8f5e-0a4f3d6c1b01",
        ),
        vendor_rule(
            "{product: gcp, service: gcp.audit}",
            "  sel:\n"
            "    data.protoPayload.authorizationInfo.permission: aiplatform.endpoints.predict\n"
            "    data.protoPayload.authorizationInfo.granted: 'true'\n"
            "    data.protoPayload.logName|endswith: data_access\n  condition: sel",
            rid="7d3c8c43-6b1a-4a3e-8f5e-0a4f3d6c1b02",
        ),
    )
    events = sigmahq.events([record])
    assert sorted(f.rule_id[-2:] for f in fired(rules, events)) == ["01", "02"]
    other = copy.deepcopy(record)
    other["protoPayload"]["methodName"] = "google.cloud.aiplatform.v1.ModelService.DeleteModel"
    other["protoPayload"]["authorizationInfo"][0]["granted"] = False
    assert fired(rules, sigmahq.events([other])) == []


def test_openai_audit_payload_key_with_dots(load_text: LoadText) -> None:
    record = json.loads(
        (sigmahq.REAL / "openai" / "openai_openapi_auditlog_object.example.json").read_text()
    )
    (rule,) = load_text(
        vendor_rule(
            "{product: openai, service: audit}",
            "  sel:\n    type: api_key.created\n"
            "    api_key.created.data.scopes: resource.operation\n  condition: sel",
            rid="7d3c8c43-6b1a-4a3e-8f5e-0a4f3d6c1b03",
        )
    )
    assert len(fired([rule], sigmahq.events([record]))) == 1
    record["api_key.created"]["data"]["scopes"] = ["all"]
    assert fired([rule], sigmahq.events([record])) == []


def test_bedrock_invocation_and_azure_openai_logsources(load_text: LoadText) -> None:
    bedrock = json.loads(
        (sigmahq.REAL / "bedrock-invocation" / "bedrock_model_invocation_logs_subset.jsonl")
        .read_text()
        .splitlines()[0]
    )
    azure = json.loads(
        (sigmahq.REAL / "azure-openai" / "azure_openai_audit.jsonl").read_text().splitlines()[0]
    )
    rules = load_text(
        vendor_rule(
            "{product: aws, service: bedrock_invocation}",
            "  sel:\n    operation: ConverseStream\n    identity.arn|contains: assumed-role/\n"
            "  condition: sel",
            rid="7d3c8c43-6b1a-4a3e-8f5e-0a4f3d6c1b04",
        ),
        vendor_rule(
            "{product: azure, service: openai}",
            "  sel:\n    category: Audit\n    operationName: ListKey\n  condition: sel",
            rid="7d3c8c43-6b1a-4a3e-8f5e-0a4f3d6c1b05",
        ),
    )
    got = fired(rules, sigmahq.events([bedrock, azure]))
    assert sorted((f.rule_id[-2:], f.evidence) for f in got) == [("04", (1,)), ("05", (2,))]


def test_custody_rules_keep_event_paths_and_cannot_read_raw(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text(
        "title: r\nid: 7d3c8c43-6b1a-4a3e-8f5e-0a4f3d6c1b06\nlevel: low\n"
        "logsource: {product: custody}\ndetection: {s: {raw.eventName: X}, condition: s}\n"
    )
    (tmp_path / "v.yml").write_text(
        "title: v\nid: 7d3c8c43-6b1a-4a3e-8f5e-0a4f3d6c1b07\nlevel: low\n"
        "logsource: {product: aws, service: cloudtrail}\n"
        "detection: {s: {keyword_free: X}, condition: s}\n"
    )
    rules, errors = load_rules(directory=tmp_path)
    assert [r.id[-2:] for r in rules] == ["07"]  # any vendor field name is fine
    (error,) = errors
    assert error.path.name == "r.yml" and error.unsupported == "field"
    assert "unknown field 'raw.eventName'" in error.message


def test_sigmahq_detection_in_a_custody_correlation_by_id(tmp_path: Path) -> None:
    """Guardrail deleted (SigmaHQ, vendor fields) then model invocations (Custody rule,
    event paths) by the same principal: each side names its own field for the alias."""
    shutil.copy(SIGMA / "aws_cloudtrail_bedrock_guardrail_deleted.yml", tmp_path)
    (tmp_path / "corr.yml").write_text(
        f"""title: Bedrock invoked after guardrail deletion
id: 7d3c8c43-6b1a-4a3e-8f5e-0a4f3d6c1b08
level: high
logsource: {{product: custody}}
name: invoke_after_guardrail_deleted
detection: {{s: {{source: aws.cloudtrail, action: model.invoke}}, condition: s}}
---
title: Guardrail deleted, then the same principal invokes models
id: 7d3c8c43-6b1a-4a3e-8f5e-0a4f3d6c1b09
level: critical
correlation:
  type: temporal_ordered
  rules: [{GUARDRAIL_DELETED}, invoke_after_guardrail_deleted]
  aliases:
    principal:
      {GUARDRAIL_DELETED}: userIdentity.arn
      invoke_after_guardrail_deleted: actor.id
  group-by: [principal]
  timespan: 15m
  generate: true
"""
    )
    rules, errors = load_rules(directory=tmp_path)
    assert not errors, [str(e) for e in errors]
    stranger = sigmahq.bedrock_invoke()
    stranger["userIdentity"]["arn"] = "arn:aws:iam::956882123456:user/someone-else"
    stranger["eventID"] = "other"
    records = [
        sigmahq.bedrock_call("DeleteGuardrail", 0, guardrailIdentifier="gr-prod"),
        stranger,  # 11:52:37, another principal: no correlation
        sigmahq.bedrock_invoke(),  # 11:52:37, same principal as the deletion
    ]
    got = fired(rules, sigmahq.events(records))
    by_rule = {f.rule_id[-2:] if f.rule_id.startswith("7d3c") else "sigma": f for f in got}
    assert set(by_rule) == {"sigma", "08", "09"}  # generate: true: the parts fire too
    corr = by_rule["09"]
    assert corr.evidence == (1, 3)
    assert corr.group == {"principal": "arn:aws:iam::956882123456:user/himan"}


def test_docs_list_the_mapping_of_every_logsource() -> None:
    doc = (sigmahq.REAL.parents[2] / "docs" / "sigma.md").read_text()
    assert mapping_markdown() in doc


def test_engine_dispatch_of_vendor_rules_agrees_with_their_full_predicates(
    load_text: LoadText,
) -> None:
    """The engine only tries a vendor rule on its adapter's events with a matching
    operation; that must never change what fires."""
    extra = load_text(
        vendor_rule(
            "{product: aws, service: cloudtrail}",
            "  sel:\n    eventSource: iam.amazonaws.com\n  condition: sel",  # pins no eventName
            rid="7d3c8c43-6b1a-4a3e-8f5e-0a4f3d6c1b10",
        ),
        vendor_rule(
            "{product: aws, service: cloudtrail}",
            "  sel:\n    eventName|startswith: Create\n  condition: sel",  # not a plain value
            rid="7d3c8c43-6b1a-4a3e-8f5e-0a4f3d6c1b11",
        ),
        vendor_rule(
            "{product: aws, service: cloudtrail}",
            "  a:\n    eventName: [CreateUser, createaccesskey]\n"
            "  b:\n    eventName: DeleteGuardrail\n  condition: a or b",
            rid="7d3c8c43-6b1a-4a3e-8f5e-0a4f3d6c1b12",
        ),
    )
    rules = [*real_rules(), *extra]
    records = [
        *sigmahq.iam_admin_user(),
        sigmahq.bedrock_invoke(),
        sigmahq.bedrock_call("DeleteGuardrail", 5, guardrailIdentifier="g"),
        sigmahq.bedrock_call("UpdateGuardrail", 6, guardrailIdentifier="g"),
    ]
    events = sigmahq.events(records)
    odd = copy.deepcopy(events[1])  # CreateAccessKey
    odd["raw"]["eventName"] = ["CreateAccessKey", "Other"]  # a list where a name should be
    missing = copy.deepcopy(events[0])
    del missing["raw"]["eventName"]
    native = {**events[2], "source": "inference-gateway"}
    events += [{**odd, "seq": 8}, {**missing, "seq": 9}, {**native, "seq": 10}]
    expected = sorted((r.id, e["seq"]) for e in events for r in rules if r.predicate(e))
    got = sorted((f.rule_id, f.evidence[0]) for f in fired(rules, events))
    assert got == expected
    # Pinned, unpinned, list-valued (seq 8) and missing (seq 9) operations all occur;
    # the native event (seq 10) matches nothing.
    assert len(expected) == 16 and {s for _, s in expected} == {1, 2, 3, 5, 6, 8, 9}


def test_added_source_condition_is_not_one_of_them(load_text: LoadText) -> None:
    """`1 of them` must not be satisfied by the pipeline's own `source` condition."""
    (rule,) = load_text(
        vendor_rule(
            "{product: aws, service: cloudtrail}",
            "  a: {eventName: Nope1}\n  b: {eventName: InvokeModel}\n  condition: 1 of them",
            rid="7d3c8c43-6b1a-4a3e-8f5e-0a4f3d6c1b20",
        )
    )
    invoke, create = sigmahq.events([sigmahq.bedrock_invoke(), sigmahq.iam_admin_user()[1]])
    assert [len(fired([rule], [e])) for e in (invoke, create)] == [1, 0]


def test_cloudtrail_record_in_an_eventbridge_envelope_matches_too() -> None:
    """The adapter accepts EventBridge's "AWS API Call via CloudTrail" events and keeps the
    envelope as the original; the rule still reads the CloudTrail record inside it."""
    record = sigmahq.bedrock_call("DeleteGuardrail", guardrailIdentifier="gr-prod")
    envelope = {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.bedrock",
        "account": record["recipientAccountId"],
        "time": record["eventTime"],
        "region": record["awsRegion"],
        "resources": [],
        "detail": record,
    }
    (event,) = sigmahq.events([envelope])
    assert event["raw"] == envelope and event["source"] == "aws.cloudtrail"
    (rule,) = [r for r in real_rules() if r.id == GUARDRAIL_DELETED]
    assert len(fired([rule], [event])) == 1
    envelope["detail"] = {**record, "eventName": "CreateGuardrail"}
    assert fired([rule], sigmahq.events([envelope])) == []


def test_unknown_top_level_keys_are_tolerated_only_in_vendor_rules(tmp_path: Path) -> None:
    body = "detection: {s: {eventName: X}, condition: s}\nregression_tests_path: x/info.yml\n"
    (tmp_path / "vendor.yml").write_text(
        "title: v\nid: 7d3c8c43-6b1a-4a3e-8f5e-0a4f3d6c1b30\nlevel: low\n"
        "logsource: {product: aws, service: cloudtrail}\n" + body
    )
    (tmp_path / "own.yml").write_text(
        "title: o\nid: 7d3c8c43-6b1a-4a3e-8f5e-0a4f3d6c1b31\nlevel: low\n"
        "logsource: {product: custody}\n" + body.replace("eventName", "action")
    )
    rules, errors = load_rules(directory=tmp_path)
    assert [r.id[-2:] for r in rules] == ["30"]
    assert [(e.path.name, e.field) for e in errors] == [("own.yml", "regression_tests_path")]


def test_custom_dedup_and_first_seen_of_a_vendor_rule_name_vendor_fields(
    load_text: LoadText,
) -> None:
    (rule,) = load_text(
        "title: first guardrail change per principal\n"
        "id: 7d3c8c43-6b1a-4a3e-8f5e-0a4f3d6c1b40\nlevel: low\n"
        "logsource: {product: aws, service: cloudtrail}\n"
        "custom:\n  dedup: [userIdentity.arn]\n"
        "  first_seen: {fields: [userIdentity.arn], history: 30d}\n"
        "detection: {s: {eventName|endswith: Guardrail}, condition: s}\n"
    )
    records = [
        sigmahq.bedrock_call("UpdateGuardrail", 0, guardrailIdentifier="g"),
        sigmahq.bedrock_call("DeleteGuardrail", 30, guardrailIdentifier="g"),  # seen already
    ]
    (firing,) = fired([rule], sigmahq.events(records))
    assert firing.evidence == (1,)
    assert firing.group == {"raw.userIdentity.arn": "arn:aws:iam::956882123456:user/himan"}


def test_field_comparison_the_backdoor_rule_meant_works_with_fieldref(
    load_text: LoadText,
) -> None:
    """What the upstream filter intends, written with `|fieldref|endswith` (a Custody
    variant, not SigmaHQ's file): a key made for oneself no longer fires."""
    (rule,) = load_text(
        vendor_rule(
            "{product: aws, service: cloudtrail}",
            "  sel:\n    eventSource: iam.amazonaws.com\n    eventName: CreateAccessKey\n"
            "  own:\n    userIdentity.arn|fieldref|endswith: responseElements.accessKey.userName\n"
            "  condition: sel and not own",
            rid="7d3c8c43-6b1a-4a3e-8f5e-0a4f3d6c1b50",
        )
    )
    other = sigmahq.iam_admin_user()[1]  # christophe creates a key for malicious-iam-user
    own = copy.deepcopy(other)
    own["userIdentity"]["arn"] = "arn:aws:iam::229654561268:user/malicious-iam-user"
    assert [len(fired([rule], sigmahq.events([r]))) for r in (other, own)] == [1, 0]
