"""Compile pySigma's parsed detection tree into a plain Python predicate, once, at load.

pySigma has already applied the modifiers: `contains`/`startswith`/`endswith` are wildcards
in a `SigmaString`, `re` is a `SigmaRegularExpression`, `cidr` a `SigmaCIDRExpression`,
`gt`..`lte` a `SigmaCompareExpression`, `all` turned a value list into an AND and `neq`
into a NOT. We only walk that tree; no YAML or condition parsing happens here.

Matching follows Sigma: strings compare case-insensitively (unless `cased`), `re` is a
case-sensitive unanchored search (unless `|i`), a list-valued event field matches when any
element matches, and a missing field matches only `null` (or `exists: false`).

Every regular expression runs on RE2, whose matching time is linear in the input: rule
authors and event senders are different people, and a backtracking engine lets a rule such
as `^(a+)+$` spend seconds per event on a value an attacker chose. Patterns RE2 cannot run
(backreferences, lookaround) are refused at load with the reason.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import re2
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
)

from service.rules.fields import Getter, is_event_path, make_getter
from service.rules.model import Event, Predicate

Test = Callable[[Any], bool]


class UnsupportedDetection(ValueError):
    """The detection uses something the engine cannot evaluate (the message says what)."""


_RE2_OPTIONS = re2.Options()
# Invalid patterns are reported through UnsupportedDetection, not printed by the C++ library.
_RE2_OPTIONS.log_errors = False


def linear_regex(pattern: str, flags: str = "") -> Any:
    """Compile `pattern` for RE2 with inline `flags` (`i`, `m`, `s`); refuse what RE2 cannot run."""
    try:
        return re2.compile(f"(?{flags}){pattern}" if flags else pattern, options=_RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise UnsupportedDetection(
            f"regular expression {pattern!r} is not supported by the linear-time engine "
            f"(RE2: {reason}); backreferences and lookaround are not available"
        ) from exc


def compile_detection(rule: SigmaRule) -> tuple[Predicate, frozenset[str] | None, Predicate]:
    """Return the predicate, the actions it can match (None: any), and a dispatch predicate.

    The dispatch predicate is only valid for events whose action is in that set (the
    engine's action index guarantees it): tests on `action` that are then always true are
    folded away. Several `condition` entries are OR-ed, as Sigma specifies.
    """
    trees = [condition.parsed for condition in rule.detection.parsed_condition]
    nodes = [tree for tree in trees if tree is not None]
    if not nodes:
        raise UnsupportedDetection("detection condition is empty")
    action_sets = [_actions(node) for node in nodes]
    actions: frozenset[str] | None = None
    if all(s is not None for s in action_sets):
        actions = frozenset().union(*[s for s in action_sets if s is not None])
    full = _predicate(_any([_node(node, None) for node in nodes]))
    dispatch = _predicate(_any([_node(node, actions) for node in nodes]))
    return full, actions, dispatch


Compiled = Predicate | bool  # a bool is a subtree folded to a constant


def _predicate(compiled: Compiled) -> Predicate:
    if compiled is True:
        return lambda event: True
    if compiled is False:
        return lambda event: False
    return compiled


def _all(parts: list[Compiled]) -> Compiled:
    if any(p is False for p in parts):
        return False
    preds = [p for p in parts if not isinstance(p, bool)]
    return _all_of(preds) if preds else True


def _any(parts: list[Compiled]) -> Compiled:
    if any(p is True for p in parts):
        return True
    preds = [p for p in parts if not isinstance(p, bool)]
    return _any_of(preds) if preds else False


def _node(node: Any, known: frozenset[str] | None) -> Compiled:
    """`known`: the event's action is certainly one of these (None: unknown)."""
    if known is not None and node_field(node) == "action":
        tested = _actions(node)
        if tested is not None and known <= tested:
            return True
    if isinstance(node, ConditionAND):
        return _all([_node(arg, known) for arg in node.args])
    if isinstance(node, ConditionOR):
        folded = _fold_equalities(node)
        return folded if folded is not None else _any([_node(arg, known) for arg in node.args])
    if isinstance(node, ConditionNOT):
        inner = _node(node.args[0], known)
        if isinstance(inner, bool):
            return not inner
        return lambda event: not inner(event)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _leaf(node.field, node.value)
    if isinstance(node, ConditionValueExpression):
        raise UnsupportedDetection(
            "keyword detections (values without a field) are not supported; name the field"
        )
    raise UnsupportedDetection(f"unsupported condition element {type(node).__name__}")


def node_field(node: Any) -> str | None:
    """The single field a leaf, or an OR of leaves, tests; else None."""
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return node.field
    if isinstance(node, ConditionOR) and node.args:
        fields = {node_field(arg) for arg in node.args}
        if len(fields) == 1:
            return fields.pop()
    return None


def _all_of(preds: list[Predicate]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda event: a(event) and b(event)
    return lambda event: all(p(event) for p in preds)


def _any_of(preds: list[Predicate]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda event: a(event) or b(event)
    return lambda event: any(p(event) for p in preds)


def _plain(value: Any) -> str | None:
    """The text of a wildcard-free, case-insensitive SigmaString, else None."""
    if type(value) is SigmaString and all(isinstance(part, str) for part in value.s):
        return "".join(str(part) for part in value.s)
    return None


def _fold_equalities(node: ConditionOR) -> Predicate | None:
    """`field: [a, b, c]` becomes one set lookup instead of N comparisons."""
    args = node.args
    if not args or not all(isinstance(a, ConditionFieldEqualsValueExpression) for a in args):
        return None
    fields = {a.field for a in args if isinstance(a, ConditionFieldEqualsValueExpression)}
    texts = [_plain(a.value) for a in args if isinstance(a, ConditionFieldEqualsValueExpression)]
    if len(fields) != 1 or any(t is None for t in texts):
        return None
    (field,) = fields
    _check_field(field)
    wanted = frozenset(t.lower() for t in texts if t is not None)
    return _string_leaf(make_getter(field), lambda t: t.lower() in wanted)


def _string_leaf(get: Getter, on_text: Callable[[str], bool]) -> Predicate:
    """Leaf for string tests with the common case (a str value) kept on the fast path."""
    slow = _wrap(get, lambda v: (t := _text(v)) is not None and on_text(t))

    def leaf(event: Event) -> bool:
        value = get(event)
        if type(value) is str:
            return on_text(value)
        return value is not None and slow(event)

    return leaf


def _check_field(field: str) -> None:
    if not is_event_path(field):
        raise UnsupportedDetection(
            f"unknown field '{field}': use an event path (action, outcome, source, actor.id, "
            "actor.type, actor.ip, actor.user_agent, resource.type, resource.id, "
            "resource.version, request_id, attributes.<name>)"
        )


def _text(value: Any) -> str | None:
    """How a scalar event value compares against Sigma strings."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _wrap(get: Getter, test: Test) -> Predicate:
    def leaf(event: Event) -> bool:
        value = get(event)
        if value is None:
            return False
        if type(value) is list:
            return any(item is not None and test(item) for item in value)
        return test(value)

    return leaf


def _leaf(field: str, value: Any) -> Predicate:
    _check_field(field)
    get = make_getter(field)
    if isinstance(value, SigmaNull):
        return lambda event: get(event) is None
    if isinstance(value, SigmaExists):
        wanted = bool(value)
        return lambda event: (get(event) is not None) is wanted
    if isinstance(value, SigmaFieldReference):
        if value.starts_with or value.ends_with:
            raise UnsupportedDetection("fieldref with startswith/endswith is not supported")
        _check_field(value.field)
        other = make_getter(value.field)

        def same(event: Event) -> bool:
            a, b = _text(get(event)), _text(other(event))
            return a is not None and b is not None and a.lower() == b.lower()

        return same
    if type(value) is SigmaString and (text := _plain(value)) is not None:
        lowered = text.lower()
        return _string_leaf(get, lambda t: t.lower() == lowered)
    return _wrap(get, _value_test(value))


def _value_test(value: Any) -> Test:
    if isinstance(value, SigmaString):
        return _string_test(value)
    if isinstance(value, SigmaBool):
        flag = bool(value)
        word = "true" if flag else "false"
        return lambda v: v is flag or (isinstance(v, str) and v.lower() == word)
    if isinstance(value, SigmaTimestampPart):
        raise UnsupportedDetection("timestamp-part modifiers (minute, hour, ...) are not supported")
    if isinstance(value, SigmaNumber):
        number = value.number
        return lambda v: _number(v) == number
    if isinstance(value, SigmaCompareExpression):
        return _compare_test(value)
    if isinstance(value, SigmaRegularExpression):
        flags = "".join(
            sorted(SigmaRegularExpression.sigma_to_re_flag[f] for f in value.flags)
        )
        search = linear_regex(str(value.regexp), flags).search
        return lambda v: (t := _text(v)) is not None and search(t) is not None
    if isinstance(value, SigmaCIDRExpression):
        network = value.network
        return lambda v: isinstance(v, str) and (ip := _ip(v)) is not None and ip in network
    raise UnsupportedDetection(f"unsupported value type {type(value).__name__}")


@lru_cache(maxsize=4096)
def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Parse an address; DNS names, zero-padded or masked octets are simply not addresses."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _compare_test(value: SigmaCompareExpression) -> Test:
    bound = value.number.number
    op = value.op
    if op is CompareOperators.GT:
        return lambda v: (n := _number(v)) is not None and n > bound
    if op is CompareOperators.GTE:
        return lambda v: (n := _number(v)) is not None and n >= bound
    if op is CompareOperators.LT:
        return lambda v: (n := _number(v)) is not None and n < bound
    if op is CompareOperators.LTE:
        return lambda v: (n := _number(v)) is not None and n <= bound
    return lambda v: (n := _number(v)) is not None and n != bound


def _string_test(value: SigmaString) -> Test:
    if value.contains_placeholder():
        raise UnsupportedDetection("placeholders (%name%) are not supported")
    cased = isinstance(value, SigmaCasedString)
    fold: Callable[[str], str] = (lambda s: s) if cased else str.lower
    parts = list(value.s)
    strs = [p for p in parts if isinstance(p, str)]
    multi = SpecialChars.WILDCARD_MULTI
    # Common shapes get str methods; anything else becomes an anchored regex.
    if not value.contains_special():
        text = fold("".join(strs))
        return lambda v: (t := _text(v)) is not None and fold(t) == text
    if len(parts) == 3 and parts[0] is multi and parts[2] is multi and len(strs) == 1:
        needle = fold(strs[0])
        return lambda v: (t := _text(v)) is not None and needle in fold(t)
    if len(parts) == 2 and parts[1] is multi and len(strs) == 1:
        prefix = fold(strs[0])
        return lambda v: (t := _text(v)) is not None and fold(t).startswith(prefix)
    if len(parts) == 2 and parts[0] is multi and len(strs) == 1:
        suffix = fold(strs[0])
        return lambda v: (t := _text(v)) is not None and fold(t).endswith(suffix)
    pattern = "".join(
        ".*" if p is multi else "." if p is SpecialChars.WILDCARD_SINGLE else re.escape(str(p))
        for p in parts
    )
    match = linear_regex(pattern, "s" if cased else "is").fullmatch
    return lambda v: (t := _text(v)) is not None and match(t) is not None


def _actions(node: Any) -> frozenset[str] | None:
    """Actions the subtree can match, or None when it does not pin the action down.

    Used to index rules by action so an event only runs the predicates that can match it.
    """
    if isinstance(node, ConditionFieldEqualsValueExpression):
        if node.field == "action":
            text = _plain(node.value)
            return frozenset({text.lower()}) if text is not None else None
        return None
    if isinstance(node, ConditionAND):
        known = [s for s in (_actions(a) for a in node.args) if s is not None]
        if not known:
            return None
        result = known[0]
        for s in known[1:]:
            result &= s
        return result
    if isinstance(node, ConditionOR):
        sets = [_actions(a) for a in node.args]
        if any(s is None for s in sets):
            return None
        return frozenset().union(*[s for s in sets if s is not None])
    return None
