"""Detection predicates: every supported modifier and condition form."""

from __future__ import annotations

from typing import Any

import pytest

from service.rules import Engine
from tests.rules.conftest import LoadText, event, rule_yaml


def matches(load_text: LoadText, detection: str, ev: dict[str, Any]) -> bool:
    (rule,) = load_text(rule_yaml(detection))
    assert rule.predicate is not None
    return rule.predicate(ev)


BASE = {"seq": 1, "time": "2026-11-30T12:00:00Z", "source": "gw", "action": "model.invoke"}


def with_(**fields: Any) -> dict[str, Any]:
    return {**BASE, **fields}


@pytest.mark.parametrize(
    ("detection", "ev", "expected"),
    [
        # plain equality is case-insensitive; lists are OR
        ("sel: {action: MODEL.Invoke}\ncondition: sel", with_(), True),
        ("sel: {action: [model.read, model.invoke]}\ncondition: sel", with_(), True),
        ("sel: {action: [model.read, model.delete]}\ncondition: sel", with_(), False),
        # wildcards
        ("sel: {action: 'model.*'}\ncondition: sel", with_(), True),
        ("sel: {action: 'model.inv?ke'}\ncondition: sel", with_(), True),
        ("sel: {action: 'model.inv?'}\ncondition: sel", with_(), False),
        ("sel: {action: 'model\\*'}\ncondition: sel", with_(action="model*"), True),
        ("sel: {action: 'model\\*'}\ncondition: sel", with_(action="modelX"), False),
        # contains / startswith / endswith
        ("sel: {actor.id|contains: ALICE}\ncondition: sel", with_(actor={"id": "x-alice-y"}), True),
        ("sel: {actor.id|contains: bob}\ncondition: sel", with_(actor={"id": "alice"}), False),
        ("sel: {actor.id|startswith: svc-}\ncondition: sel", with_(actor={"id": "SVC-etl"}), True),
        (
            "sel: {actor.id|endswith: '@corp.com'}\ncondition: sel",
            with_(actor={"id": "a@CORP.com"}),
            True,
        ),
        (
            "sel: {actor.id|endswith: '@corp.com'}\ncondition: sel",
            with_(actor={"id": "a@corp.co"}),
            False,
        ),
        (
            "sel: {actor.id|contains|cased: Alice}\ncondition: sel",
            with_(actor={"id": "alice"}),
            False,
        ),
        # all: every value must match
        (
            "sel: {actor.user_agent|contains|all: [curl, linux]}\ncondition: sel",
            with_(actor={"user_agent": "curl/8 (Linux)"}),
            True,
        ),
        (
            "sel: {actor.user_agent|contains|all: [curl, windows]}\ncondition: sel",
            with_(actor={"user_agent": "curl/8 (Linux)"}),
            False,
        ),
        # re: case-sensitive unanchored search unless |i
        ("sel: {actor.id|re: '^a.+e$'}\ncondition: sel", with_(actor={"id": "alice"}), True),
        ("sel: {actor.id|re: '^A'}\ncondition: sel", with_(actor={"id": "alice"}), False),
        ("sel: {actor.id|re|i: '^A'}\ncondition: sel", with_(actor={"id": "alice"}), True),
        ("sel: {actor.id|re: 'lic'}\ncondition: sel", with_(actor={"id": "alice"}), True),
        # numeric comparisons
        ("sel: {attributes.bytes|gt: 100}\ncondition: sel", with_(attributes={"bytes": 101}), True),
        (
            "sel: {attributes.bytes|gt: 100}\ncondition: sel",
            with_(attributes={"bytes": 100}),
            False,
        ),
        (
            "sel: {attributes.bytes|gte: 100}\ncondition: sel",
            with_(attributes={"bytes": 100}),
            True,
        ),
        (
            "sel: {attributes.bytes|lt: 100}\ncondition: sel",
            with_(attributes={"bytes": 99.5}),
            True,
        ),
        (
            "sel: {attributes.bytes|lte: 100}\ncondition: sel",
            with_(attributes={"bytes": 101}),
            False,
        ),
        (
            "sel: {attributes.bytes|gt: 100}\ncondition: sel",
            with_(attributes={"bytes": "200"}),
            True,
        ),
        (
            "sel: {attributes.bytes|gt: 100}\ncondition: sel",
            with_(attributes={"bytes": "big"}),
            False,
        ),
        ("sel: {attributes.bytes|gt: 0}\ncondition: sel", with_(attributes={"bytes": True}), False),
        # numbers and booleans
        ("sel: {attributes.code: 403}\ncondition: sel", with_(attributes={"code": 403}), True),
        ("sel: {attributes.code: 403}\ncondition: sel", with_(attributes={"code": "403"}), True),
        ("sel: {attributes.ok: false}\ncondition: sel", with_(attributes={"ok": False}), True),
        ("sel: {attributes.ok: false}\ncondition: sel", with_(attributes={"ok": 0}), False),
        ("sel: {attributes.ok: 'true'}\ncondition: sel", with_(attributes={"ok": True}), True),
        # null and exists
        ("sel: {request_id: null}\ncondition: sel", with_(), True),
        ("sel: {request_id: null}\ncondition: sel", with_(request_id="r1"), False),
        ("sel: {actor.id: null}\ncondition: sel", with_(actor=None), True),
        ("sel: {attributes.k|exists: true}\ncondition: sel", with_(attributes={"k": 1}), True),
        ("sel: {attributes.k|exists: true}\ncondition: sel", with_(attributes=None), False),
        ("sel: {attributes.k|exists: false}\ncondition: sel", with_(), True),
        # neq, nested attributes, list-valued fields
        ("sel: {outcome|neq: success}\ncondition: sel", with_(outcome="denied"), True),
        ("sel: {outcome|neq: success}\ncondition: sel", with_(outcome="success"), False),
        ("sel: {attributes.a.b: x}\ncondition: sel", with_(attributes={"a": {"b": "X"}}), True),
        (
            "sel: {attributes.tags: pii}\ncondition: sel",
            with_(attributes={"tags": ["x", "PII"]}),
            True,
        ),
        (
            "sel: {attributes.tags: pii}\ncondition: sel",
            with_(attributes={"tags": [{"a": 1}]}),
            False,
        ),
        # fieldref compares two fields
        (
            "sel: {attributes.grantee|fieldref: actor.id}\ncondition: sel",
            with_(actor={"id": "a"}, attributes={"grantee": "A"}),
            True,
        ),
        # ... also in part: fieldref with contains / startswith / endswith
        (
            "sel: {actor.id|fieldref|endswith: attributes.user}\ncondition: sel",
            with_(actor={"id": "arn:aws:iam::1:user/Bob"}, attributes={"user": "bob"}),
            True,
        ),
        (
            "sel: {actor.id|fieldref|endswith: attributes.user}\ncondition: sel",
            with_(actor={"id": "arn:aws:iam::1:user/bob-admin"}, attributes={"user": "bob"}),
            False,
        ),
        (
            "sel: {actor.id|fieldref|startswith: attributes.user}\ncondition: sel",
            with_(actor={"id": "bob@example.com"}, attributes={"user": "bob"}),
            True,
        ),
        (
            "sel: {actor.id|fieldref|contains: attributes.user}\ncondition: sel",
            with_(actor={"id": "x-bob-y"}, attributes={"user": "bob"}),
            True,
        ),
        (
            "sel: {actor.id|fieldref|contains: attributes.user}\ncondition: sel",
            with_(actor={"id": "x-bo-y"}, attributes={"user": "bob"}),
            False,
        ),
    ],
)
def test_value_matching(load_text: LoadText, detection: str, ev: dict[str, Any], expected: bool):
    assert matches(load_text, detection, ev) is expected


@pytest.mark.parametrize(
    ("ip", "expected"),
    [("10.1.2.3", True), ("fc00::1", True), ("11.0.0.1", False), ("2001:db8::1", False)],
)
def test_cidr_matches_addresses(load_text: LoadText, ip: str, expected: bool):
    det = "sel: {actor.ip|cidr: [10.0.0.0/8, 'fc00::/7']}\ncondition: sel"
    assert matches(load_text, det, with_(actor={"ip": ip})) is expected


@pytest.mark.parametrize(
    "ip",
    ["035.249.253.232", "81.2.69.***", "bedrock.amazonaws.com", "", "10.0.0.0/8", 42],
)
def test_cidr_never_crashes_on_non_addresses(load_text: LoadText, ip: Any):
    det = "sel: {actor.ip|cidr: [10.0.0.0/8, 0.0.0.0/0]}\ncondition: sel"
    # 035.249.253.232: zero-padded octets are ambiguous (octal?), so not an address.
    assert not matches(load_text, det, with_(actor={"ip": ip}))


CONDITIONS = """
a: {action: model.invoke}
b: {outcome: denied}
x_one: {actor.id: alice}
x_two: {actor.id: bob}
"""


@pytest.mark.parametrize(
    ("condition", "ev", "expected"),
    [
        ("a and b", with_(outcome="denied"), True),
        ("a and b", with_(outcome="success"), False),
        ("a and not b", with_(outcome="success"), True),
        ("b or x_one", with_(actor={"id": "alice"}), True),
        ("1 of x_*", with_(actor={"id": "bob"}), True),
        ("all of x_*", with_(actor={"id": "bob"}), False),
        ("all of them", with_(outcome="denied", actor={"id": "alice"}), False),
        ("a and (b or 1 of x_*)", with_(actor={"id": "alice"}), True),
        ("not (a and b)", with_(outcome="denied"), False),
        ("a and not 1 of x_*", with_(actor={"id": "carol"}), True),
    ],
)
def test_condition_forms(load_text: LoadText, condition: str, ev: dict[str, Any], expected: bool):
    assert matches(load_text, f"{CONDITIONS}condition: {condition}", ev) is expected


def test_missing_parents_do_not_crash(load_text: LoadText):
    det = "sel: {actor.id|contains: a, resource.id: m, attributes.x.y|gt: 1}\ncondition: sel"
    for ev in (with_(), with_(actor=None, resource=None, attributes=None), with_(actor="str")):
        assert not matches(load_text, det, ev)


def test_rules_are_indexed_by_action(load_text: LoadText):
    rules = load_text(
        rule_yaml("sel: {action: [model.read, model.invoke]}\ncondition: sel", name="pinned"),
        rule_yaml("sel: {actor.id: a}\ncondition: sel", name="any"),
        rule_yaml("a: {action: model.read}\nb: {actor.id: x}\ncondition: a or b", name="or"),
        rule_yaml("a: {action: model.read}\ncondition: not a", name="neg"),
    )
    actions = {r.name: r.actions for r in rules}
    assert actions == {
        "pinned": frozenset({"model.read", "model.invoke"}),
        "any": None,
        "or": None,
        "neg": None,
    }
    engine = Engine(rules)
    fired = {f.title for f in engine.process(event(1, 0, "MODEL.READ", actor="a"))}
    assert fired == {"pinned", "any", "or"}


def test_catastrophic_regex_runs_in_linear_time(load_text: LoadText):
    # `^(a+)+$` backtracks exponentially in Python's re: at 26 characters ~2 s per event,
    # doubling per character. On RE2 a 100k-character hostile value is still instant; the
    # test would not finish (rather than fail a timing bound) on a backtracking engine.
    detection = "sel: {actor.id|re: '^(a+)+$'}\ncondition: sel"
    assert not matches(load_text, detection, with_(actor={"id": "a" * 100_000 + "!"}))
    assert matches(load_text, detection, with_(actor={"id": "aaa"}))


def test_wildcards_match_literal_regex_characters(load_text: LoadText):
    ev = with_(attributes={"path": "s3://bucket/(weights)+[v2].bin\nnext"})
    sel = "sel: {{attributes.path: 's3://*{}*'}}\ncondition: sel"
    assert matches(load_text, sel.format("(weights)+[v2]"), ev)
    assert not matches(load_text, sel.format("(weights)[v2]"), ev)
