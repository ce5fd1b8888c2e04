"""Load-time checks of one template: static safety, syntax, and strict sample renders."""

from __future__ import annotations

from jinja2 import TemplateError, TemplateSyntaxError
from jinja2.exceptions import SecurityError

from service.runbooks.errors import UnsafeTemplate
from service.runbooks.render import minimal_context, render_text, sample_context
from service.runbooks.sandbox import inspect_template
from service.runbooks.schemas import Problem


def check_template(text: str, *, source: str, field: str, line: int) -> list[Problem]:
    """Problems of one template whose first line is file line `line`; empty when fine.

    Rendering against a full sample incident catches typos (`incident.titel`);
    rendering against an incident with no group values and no evidence catches
    templates that would only work for some rules.
    """

    def problem(message: str, template_line: int | None = None) -> Problem:
        at = line + template_line - 1 if template_line else line
        return Problem(file=source, field=field, message=message, line=at)

    try:
        inspect_template(text)
    except UnsafeTemplate as exc:
        return [problem(str(exc), exc.line)]
    except TemplateSyntaxError as exc:
        return [problem(f"template syntax error: {exc.message}", exc.lineno)]
    contexts = {
        "the sample incident": sample_context(),
        "an incident without group values or evidence": minimal_context(),
    }
    for name, context in contexts.items():
        try:
            render_text(text, context)
        except SecurityError as exc:
            return [problem(f"unsafe template: {exc}", _template_line(exc))]
        except (TemplateError, ValueError, TypeError) as exc:
            # ValueError/TypeError: a filter given bad arguments, e.g. minus("7 days").
            return [problem(f"does not render for {name}: {exc}", _template_line(exc))]
    return []


def _template_line(exc: BaseException) -> int | None:
    """The template line a render error happened on.

    Jinja rewrites tracebacks so that frames of compiled templates carry the
    template's file name ("<template>") and line number.
    """
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
