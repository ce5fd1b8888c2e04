"""Render a runbook template for one incident into JSON-ready data."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from jinja2 import Template, TemplateError
from jinja2.exceptions import SecurityError

from service.runbooks.errors import RunbookRenderError
from service.runbooks.filters import format_time
from service.runbooks.sandbox import environment
from service.runbooks.schemas import (
    RenderedPhase,
    RenderedRunbook,
    RenderedStep,
    RunbookTemplate,
)

# The incident fields templates may rely on. A caller that lacks one still gets a
# rendered runbook: the field shows as a `<name>` placeholder instead of failing.
INCIDENT_FIELDS: tuple[str, ...] = (
    "id", "title", "severity", "status", "assignee", "rule_id",
    "tags", "first_seen", "last_seen", "event_count", "version",
)  # fmt: skip
_INCIDENT_DEFAULTS: Mapping[str, Any] = {"tags": [], "event_count": 0}
# Errors that depend on this incident's data (load-time checks passed on sample data).
_DATA_ERRORS = (TemplateError, TypeError, ValueError, ArithmeticError, LookupError)


class Group(dict[str, Any]):
    """Group values keyed by field path; a missing key renders as `<key>`.

    Rules group by different fields, so `group["actor.id"]` must not break a
    runbook attached to an incident grouped only by resource.
    """

    def __missing__(self, key: str) -> str:
        return f"<{key}>"


def render_instance(
    template: RunbookTemplate,
    *,
    incident: Mapping[str, Any],
    group: Mapping[str, Any],
    evidence: Sequence[Mapping[str, Any]],
) -> RenderedRunbook:
    """Render every step of `template` for one incident.

    A step that fails on this incident's data (a missing field under StrictUndefined,
    a value of an unexpected type) degrades to its template source under a warning,
    because attaching a runbook must never block opening an incident. A SecurityError
    raises RunbookRenderError: that template should never have loaded.
    """
    context = build_context(incident=incident, group=group, evidence=evidence)
    texts = _render_together(template, context)
    if texts is None:
        texts = iter(
            [
                _render_lenient(template.overview, context, where="overview"),
                *(
                    _render_lenient(s.instructions, context, where=s.id)
                    for _, s in template.steps()
                ),
            ]
        )
    overview = next(texts)
    phases: list[RenderedPhase] = []
    for phase, steps in template.phases.items():
        rendered: list[RenderedStep] = [
            {
                "id": step.id,
                "title": step.title,
                "required": step.required,
                "requires_note": step.requires_note,
                "csf": list(step.csf),
                "instructions": next(texts),
            }
            for step in steps
        ]
        phases.append({"phase": phase.value, "steps": rendered})
    return {
        "runbook_id": template.id,
        "content_hash": template.content_hash,
        "title": template.title,
        "overview": overview,
        "phases": phases,
    }


_SEPARATOR = "custody_separator"


def _render_together(template: RunbookTemplate, context: Mapping[str, Any]) -> Iterator[str] | None:
    """The overview and every step rendered in one pass of one compiled template (an
    opening renders a whole runbook; one pass costs a fraction of one per step). None
    when any part fails on this incident's data: the caller then renders part by part,
    so only the failing parts degrade. Each part runs in its own scope, and the parts
    are split on a random separator, so no event data can shift text between steps."""
    sources = (template.overview, *(step.instructions for _, step in template.steps()))
    if not any("{" in source for source in sources):
        return iter([source.strip() for source in sources])
    separator = secrets.token_hex(16)
    try:
        text = _compile_together(sources).render({**context, _SEPARATOR: separator})
    except SecurityError as exc:
        raise RunbookRenderError(f"{template.id}: unsafe template: {exc}") from exc
    except _DATA_ERRORS:
        return None
    parts = text.split(separator)
    if len(parts) != len(sources):
        return None
    return iter([part.strip() for part in parts])


@functools.lru_cache(maxsize=256)
def _compile_together(sources: tuple[str, ...]) -> Template:
    joined = ("{{ " + _SEPARATOR + " }}").join(
        "{% with %}" + source + "{% endwith %}" for source in sources
    )
    return environment().from_string(joined)


def build_context(
    *,
    incident: Mapping[str, Any],
    group: Mapping[str, Any],
    evidence: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The template context: plain JSON-like data, times as RFC 3339 strings."""
    full_incident = {name: _INCIDENT_DEFAULTS.get(name, f"<{name}>") for name in INCIDENT_FIELDS}
    full_incident.update(_plain(dict(incident)))
    return {
        "incident": full_incident,
        "group": Group(_plain(dict(group))),
        "evidence": [_plain(dict(event)) for event in evidence],
    }


def render_text(source: str, context: Mapping[str, Any]) -> str:
    """Render one template strictly; raises jinja2 errors (used by checks and tests)."""
    return _compile(source).render(context).strip()


def sample_context() -> dict[str, Any]:
    """A realistic context for `custody runbooks render` and load-time checks."""
    return build_context(
        incident={
            "id": "INC-7",
            "title": "Model weights downloaded by a new actor",
            "severity": "high",
            "status": "open",
            "assignee": "oncall@example.com",
            "rule_id": "5f0c2a5e-1d3b-4c55-9e51-6a1f3f1c0b7d",
            "tags": ["atlas.aml.t0024", "atlas.aml.t0040"],
            "first_seen": "2026-11-30T12:00:00Z",
            "last_seen": "2026-11-30T12:42:10Z",
            "event_count": 3,
            "version": 1,
        },
        group={"actor.id": "alice@example.com", "resource.id": "llm-prod"},
        evidence=[
            {
                "seq": 1041 + i,
                "time": f"2026-11-30T12:{i * 20:02d}:00Z",
                "source": "model-registry",
                "action": "model.weights.download",
                "outcome": "success",
                "actor": {"type": "user", "id": "alice@example.com", "ip": "203.0.113.7"},
                "resource": {"type": "model", "id": "llm-prod", "version": "2026-11-01"},
                "hash": f"{i:x}" * 64,
            }
            for i in range(3)
        ],
    )


def minimal_context() -> dict[str, Any]:
    """An incident with nothing optional: no group values, no evidence yet."""
    return build_context(incident={"id": "INC-1"}, group={}, evidence=[])


def _render_lenient(source: str, context: Mapping[str, Any], *, where: str) -> str:
    if "{" not in source:  # no Jinja syntax at all: rendering would return it as it is
        return source.strip()
    try:
        return render_text(source, context)
    except SecurityError as exc:
        raise RunbookRenderError(f"{where}: unsafe template: {exc}") from exc
    except _DATA_ERRORS as exc:
        return (
            f"> **Warning:** this step could not be filled in for this incident "
            f"({type(exc).__name__}: {exc}); the template is shown as written.\n\n{source.strip()}"
        )


@functools.lru_cache(maxsize=1024)
def _compile(source: str) -> Template:
    return environment().from_string(source)


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    """Copy into dicts, lists and scalars, so templates see data, not caller objects."""
    kind = type(value)
    if kind in _SCALARS:  # most of an event; checked first, an opening renders thousands
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
