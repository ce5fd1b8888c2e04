"""`custody runbooks check [DIR]` and `custody runbooks render ID [--incident INC-N]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markdown import Markdown

from service.runbooks.check import check_dir
from service.runbooks.loader import load_dir
from service.runbooks.markdown import instance_markdown
from service.runbooks.render import render_instance, sample_context

app = typer.Typer(no_args_is_help=True, help="Runbook templates: check and preview.")
console = Console()
err = Console(stderr=True)


def _default_dir() -> Path:
    from service.config import Settings

    return Settings().runbooks_dir


def _rule_refs(rules_dir: Path) -> list[tuple[str, str]]:
    from service.rules.loader import load_rules

    if not rules_dir.is_dir():
        return []
    rules, _ = load_rules(directory=rules_dir)
    return [(str(rule.path), rule.runbook) for rule in rules if rule.runbook]


@app.command("check")
def check(
    directory: Annotated[Path | None, typer.Argument(help="default: CUSTODY_RUNBOOKS_DIR")] = None,
    rules: Annotated[
        Path | None, typer.Option(help="rules whose custom.runbook must exist (default: rules dir)")
    ] = None,
) -> None:
    """Front matter, unique ids, step ids, template safety, and rules' runbook references."""
    from service.config import Settings

    directory = directory or _default_dir()
    refs = _rule_refs(rules or Settings().rules_dir)
    problems = check_dir(directory, refs)
    if problems:
        for problem in problems:
            err.print(f"[red]{problem}[/red]")
        err.print(f"{len(problems)} problem(s) in {directory}")
        raise typer.Exit(1)
    templates, _ = load_dir(directory)
    console.print(
        f"[green]OK[/green] {len(templates)} runbooks in {directory}; "
        f"{len(refs)} rule references resolve"
    )


@app.command("render")
def render(
    runbook_id: Annotated[str, typer.Argument(help="runbook id")],
    incident: Annotated[
        str | None, typer.Option(help="INC-N: render for this incident (via CUSTODY_URL)")
    ] = None,
    directory: Annotated[Path | None, typer.Option("--dir", help="runbooks directory")] = None,
    raw: Annotated[bool, typer.Option(help="print Markdown source, not formatted")] = False,
) -> None:
    """Render a runbook as Markdown, for an incident or a realistic sample."""
    templates, _ = load_dir(directory or _default_dir())
    template = next((t for t in templates if t.id == runbook_id), None)
    if template is None:
        err.print(
            f"[red]No runbook {runbook_id!r}[/red] (known: {', '.join(t.id for t in templates)})"
        )
        raise typer.Exit(1)
    context = _incident_context(incident) if incident else sample_context()
    rendered = render_instance(
        template, incident=context["incident"], group=context["group"], evidence=context["evidence"]
    )
    text = instance_markdown(dict(rendered))
    if raw:
        typer.echo(text)
    else:
        console.print(Markdown(text))


def _incident_context(incident_id: str) -> dict[str, Any]:
    from service.incidents.cli import _get

    incident = _get(f"/v1/incidents/{incident_id}").json()
    evidence = _get(f"/v1/incidents/{incident_id}/events", limit=200).json()["items"]
    return {"incident": incident, "group": incident["group"], "evidence": evidence}
