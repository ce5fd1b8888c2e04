"""The shipped rule pack: loads cleanly, every case passes, runbooks exist, real data fires."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service.rules import Engine, load_rules
from service.rules.testing import CaseResult, run_rule_tests

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
STRATUS = ROOT / "tests/fixtures/real/stratus/aws.impact.bedrock-invoke-model.json"
RUNBOOKS = {
    "unauthorized-model-access",
    "model-exfiltration",
    "privilege-escalation",
    "supply-chain-compromise",
    "training-data-poisoning",
    "inference-attack",
    "api-key-abuse",
    "logging-guardrail-tampering",
    "generic-ai-incident",
    "deployment-without-assurance",
    "agent-misuse",
}
REPORT = run_rule_tests(rules_dir=RULES)


def test_pack_loads_without_errors():
    rules, errors = load_rules(directory=RULES)
    assert not errors, [str(e) for e in errors]
    assert sum(r.emits for r in rules) >= 14
    assert len({r.id for r in rules}) == len(rules)


def test_every_rule_has_a_known_runbook_title_and_description():
    rules, _ = load_rules(directory=RULES)
    for rule in rules:
        assert rule.runbook in RUNBOOKS, rule.name
        assert rule.title and rule.description, rule.name


def test_every_firing_rule_has_tags_and_tests():
    rules, _ = load_rules(directory=RULES)
    for rule in (r for r in rules if r.emits):
        assert rule.tags, rule.name
        assert (RULES / "tests" / f"{rule.path.stem}.yml").exists(), rule.name
    assert not REPORT.errors
    assert not REPORT.untested


@pytest.mark.parametrize("case", REPORT.results, ids=lambda c: f"{c.file.stem}:{c.expect}:{c.name}")
def test_rule_case(case: CaseResult):
    assert case.passed, f"{case.expect} case '{case.name}' produced {case.firings} firing(s)"


def normalize(record: dict[str, Any], seq: int) -> dict[str, Any]:
    """Just enough of the CloudTrail adapter's mapping for these records (test-local)."""
    actions = {
        "PutFoundationModelEntitlement": "model.access.enable",
        "PutUseCaseForModelAccess": "model.access.enable",
        "CreateFoundationModelAgreement": "model.access.enable",
        "GetFoundationModelAvailability": "model.enumerate",
        "ListFoundationModels": "model.enumerate",
        "InvokeModel": "model.invoke",
    }
    identity = record["userIdentity"]
    return {
        "seq": seq,
        "time": record["eventTime"],
        "source": "aws.cloudtrail",
        "action": actions.get(record["eventName"], "aws.other"),
        "outcome": "failure" if record.get("errorCode") else "success",
        "actor": {
            "type": identity["type"],
            "id": identity["arn"],
            "ip": record["sourceIPAddress"],
            "user_agent": record["userAgent"],
        },
        "attributes": {
            "event_source": record["eventSource"],
            "event_name": record["eventName"],
            "access_key_id": identity["accessKeyId"],
        },
    }


def test_real_stratus_llmjacking_detonation_fires_both_bedrock_rules():
    rules, _ = load_rules(directory=RULES)
    records = json.loads(STRATUS.read_text())
    engine = Engine(rules)
    fired: dict[str, Any] = {}
    for seq, record in enumerate(records, start=1):
        for firing in engine.process(normalize(record, seq)):
            fired.setdefault(firing.title, firing)
    names = {r.title: r.name for r in rules}
    assert {names[t] for t in fired} == {
        "bedrock_llmjacking_access_enabled_then_invoke",
        "bedrock_model_enumeration_then_invoke",
    }
    enum = next(f for t, f in fired.items() if names[t] == "bedrock_model_enumeration_then_invoke")
    assert len(enum.evidence) == 11  # ten enumeration calls and the invocation
