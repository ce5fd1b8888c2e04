"""Templates cannot reach Python internals: refused at load, stopped at render."""

from __future__ import annotations

import pytest
from jinja2.exceptions import SecurityError

from service.runbooks.errors import RunbookLoadError, RunbookRenderError
from service.runbooks.loader import parse_runbook
from service.runbooks.render import render_instance, render_text, sample_context
from service.runbooks.sandbox import inspect_template
from tests.runbooks.conftest import runbook_text


def load_with_step(instructions: str) -> None:
    body = f"Overview.\n\n## step: look\n{instructions}\n\n## step: review\nok\n"
    parse_runbook(runbook_text(body=body).encode(), source="evil.md")


@pytest.mark.parametrize(
    ("attack", "message"),
    [
        ("{{ ''.__class__.__mro__ }}", "attribute '__mro__' starts with '_'"),
        ("{{ incident.__init__ }}", "attribute '__init__' starts with '_'"),
        ("{{ group._private }}", "attribute '_private' starts with '_'"),
        ("{{ incident['__class__'] }}", "item '__class__' starts with '_'"),
        ("{% set x = '__cla' %}{{ incident[x ~ 'ss__'] }}", "contains '__'"),
        ("{{ cycler.__init__.__globals__.os.popen('id').read() }}", "unknown variable(s) 'cycler'"),
        ("{{ lipsum }}", "unknown variable(s) 'lipsum'"),
        ("{{ range(10) | list }}", "unknown variable(s) 'range'"),
        ("{{ namespace(a=1) }}", "unknown variable(s) 'namespace'"),
        ("{{ config }}", "unknown variable(s) 'config'"),
        ("{{ self._TemplateReference__context }}", "starts with '_'"),
        ("{{ self }}", "'self' is not available"),
        ("{{ incident | attr('__class__') }}", "the 'attr' filter is not allowed"),
        ("{{ evidence | map(attribute='__class__') | list }}", "attribute= arguments"),
        ("{% include 'other.md' %}", "include/import/extends are not allowed"),
        ("{% import 'os' as os %}", "include/import/extends are not allowed"),
        ("{{ 9 ** 9 ** 9 }}", "the '**' operator is not allowed"),
    ],
)
def test_static_inspection_refuses_attacks_at_load(attack: str, message: str) -> None:
    with pytest.raises(RunbookLoadError) as caught:
        load_with_step(attack)

    problem = caught.value.problems[0]
    assert problem.field == "steps.look.instructions"
    assert problem.line == 14
    assert message in problem.message


@pytest.mark.parametrize(
    "attack",
    [
        # Each passes the static check; the sandbox stops it at the load-time render.
        "{% set u = '_' %}{{ incident[u ~ u ~ 'class' ~ u ~ u] }}",
        "{{ evidence.append({'seq': 1}) }}",
        "{{ group.update({'actor.id': 'mallory'}) }}",
        "{{ incident.clear() }}",
        "{% set n = 100000000 %}{{ 'a' * n }}",
        "{{ 'a' * 1000000000 }}",
    ],
)
def test_sandbox_refuses_runtime_attacks_at_load(attack: str) -> None:
    inspect_template(attack)  # not caught statically
    with pytest.raises(SecurityError):
        render_text(attack, sample_context())
    with pytest.raises(RunbookLoadError) as caught:
        load_with_step(attack)

    assert caught.value.problems[0].message.startswith("unsafe template:")


def test_render_instance_raises_on_security_errors_instead_of_degrading() -> None:
    template = parse_runbook(runbook_text().encode(), source="ok.md")
    phase, steps = next(iter(template.phases.items()))
    # A template built directly (not via the loader) skipped the load-time checks:
    # the renderer must still refuse it, not show it as "could not be filled in".
    attack = "{% set u = '_' %}{{ incident[u ~ u ~ 'class' ~ u ~ u] }}"
    evil_step = steps[0].model_copy(update={"instructions": attack})
    evil = template.model_copy(update={"phases": {**template.phases, phase: (evil_step,)}})

    with pytest.raises(RunbookRenderError, match="unsafe template"):
        render_instance(evil, **sample_context())


def test_missing_incident_data_degrades_to_the_template_source() -> None:
    # Works for the load-time samples, fails for an event without an actor.
    step = (
        "{{ evidence[0].seq if evidence else 0 }} {{ evidence[-1].actor.id if evidence else '' }}"
    )
    body = f"Overview.\n\n## step: look\n{step}\n\n## step: review\nok\n"
    template = parse_runbook(runbook_text(body=body).encode(), source="ok.md")

    rendered = render_instance(template, incident={"id": "INC-9"}, group={}, evidence=[{"seq": 5}])

    text = rendered["phases"][0]["steps"][0]["instructions"]
    assert text.startswith("> **Warning:** this step could not be filled in")
    assert "{{ evidence[-1].actor.id" in text
