"""The sandboxed Jinja2 environment and the load-time static inspection of templates.

Defence in depth: the AST check refuses obviously hostile templates with a clear
message before they are ever stored, and the sandbox (ImmutableSandboxedEnvironment,
StrictUndefined) still stops whatever is only knowable at render time.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

from jinja2 import StrictUndefined, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from service.runbooks import filters
from service.runbooks.errors import UnsafeTemplate

TEMPLATE_VARIABLES = frozenset({"incident", "group", "evidence"})

# Strings repeated by `*` beyond this size are a denial of service, not a runbook.
_MAX_REPEAT_LEN = 100_000
_LOADING_NODES = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)


class _RunbookEnvironment(ImmutableSandboxedEnvironment):
    # Intercepting these also stops Jinja's compile-time constant folding from
    # evaluating `9 ** 9 ** 9` or `'a' * 10 ** 9` while the template is loaded.
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            raise SecurityError("the '**' operator is not allowed in runbook templates")
        if operator_ == "*":
            sizes = [len(x) for x in (left, right) if isinstance(x, str | list | tuple)]
            counts = [x for x in (left, right) if isinstance(x, int)]
            if sizes and counts and sizes[0] * max(counts[0], 0) > _MAX_REPEAT_LEN:
                raise SecurityError("repeating a sequence this large is not allowed")
            return operator.mul(left, right)
        return super().call_binop(context, operator_, left, right)


@functools.cache
def environment() -> ImmutableSandboxedEnvironment:
    """The one environment used for runbooks: sandboxed, immutable, strict, no globals."""
    env = _RunbookEnvironment(
        undefined=StrictUndefined,
        autoescape=False,  # output is Markdown; whoever turns it into HTML sanitizes
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    # range, dict, lipsum, cycler, joiner, namespace: none is needed to write a
    # runbook, and several are classic stepping stones to module globals.
    env.globals.clear()
    env.filters.update(filters.FILTERS)
    return env


def inspect_template(source: str) -> None:
    """Parse `source` and refuse unsafe constructs; raises UnsafeTemplate or TemplateSyntaxError."""
    ast = environment().parse(source)
    unknown = sorted(meta.find_undeclared_variables(ast) - TEMPLATE_VARIABLES)
    if unknown:
        raise UnsafeTemplate(
            f"unknown variable(s) {', '.join(map(repr, unknown))}: templates may use only "
            f"{', '.join(sorted(TEMPLATE_VARIABLES))} (no Jinja globals such as cycler, range)",
            line=_first_line(ast, unknown),
        )
    for node in ast.find_all(nodes.Node):
        reason = _unsafe_reason(node)
        if reason:
            raise UnsafeTemplate(f"unsafe template: {reason}", line=node.lineno)


def _unsafe_reason(node: nodes.Node) -> str | None:
    checks: list[Callable[[nodes.Node], str | None]] = [
        _check_attribute,
        _check_constant,
        _check_node_kind,
    ]
    for check in checks:
        reason = check(node)
        if reason:
            return reason
    return None


def _check_attribute(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
        return f"attribute {node.attr!r} starts with '_' (Python internals are off limits)"
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
        and node.arg.value.startswith("_")
    ):
        return f"item {node.arg.value!r} starts with '_' (Python internals are off limits)"
    if isinstance(node, nodes.Keyword) and node.key == "attribute":
        value = node.value.value if isinstance(node.value, nodes.Const) else None
        if not isinstance(value, str) or any(p.startswith("_") for p in value.split(".")):
            return "attribute= arguments must be constant names not starting with '_'"
    return None


def _check_constant(node: nodes.Node) -> str | None:
    # Catches dunder names smuggled through strings, e.g. incident["__cla" ~ "ss__"].
    if isinstance(node, nodes.Const) and isinstance(node.value, str) and "__" in node.value:
        return f"string constant {node.value!r} contains '__'"
    return None


def _check_node_kind(node: nodes.Node) -> str | None:
    if isinstance(node, _LOADING_NODES):
        return "include/import/extends are not allowed (a runbook step is self-contained)"
    if isinstance(node, nodes.Pow):
        return "the '**' operator is not allowed"
    if isinstance(node, nodes.Filter) and node.name == "attr":
        return "the 'attr' filter is not allowed; use incident.field or group['key']"
    if isinstance(node, nodes.Name) and node.name == "self":
        return "'self' is not available in runbook templates"
    return None


def _first_line(ast: nodes.Template, names: list[str]) -> int | None:
    for node in ast.find_all(nodes.Name):
        if node.name in names:
            return node.lineno
    return None
