"""`custody incidents list|show|report` (HTTP: CUSTODY_URL, CUSTODY_TOKEN) and
`custody incidents audit` (database: CUSTODY_DATABASE_URL)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

from service.client.http import ClientConfigError, api_client, problem_message

app = typer.Typer(no_args_is_help=True, help="Incidents: triage from the terminal.")
console = Console()
err = Console(stderr=True)


def _get(path: str, **params: Any) -> httpx.Response:
    try:
        with api_client() as client:
            response = client.get(path, params=params)
    except ClientConfigError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    except httpx.HTTPError as exc:
        err.print(f"[red]Cannot reach the server:[/red] {exc}")
        raise typer.Exit(2) from None
    if response.status_code >= 400:
        err.print(f"[red]{problem_message(response)}[/red]")
        raise typer.Exit(1)
    return response


@app.command("list")
def list_(
    status: Annotated[list[str] | None, typer.Option(help="repeatable: --status open")] = None,
    severity: Annotated[list[str] | None, typer.Option(help="repeatable")] = None,
    assignee: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """A table of incidents, newest first."""
    params: dict[str, Any] = {"limit": limit}
    if status:
        params["status"] = status
    if severity:
        params["severity"] = severity
    if assignee:
        params["assignee"] = assignee
    page = _get("/v1/incidents", **params).json()
    table = Table("id", "severity", "status", "title", "assignee", "events", "opened")
    for item in page["items"]:
        table.add_row(
            item["id"],
            item["severity"],
            item["status"],
            item["title"],
            item["assignee"] or "-",
            str(item["event_count"]),
            item["opened_at"][:19],
        )
    console.print(table)
    if page["next_cursor"]:
        console.print(f"(more: raise --limit, or use the API with cursor={page['next_cursor']})")


@app.command("show")
def show(incident_id: Annotated[str, typer.Argument(help="INC-N")]) -> None:
    """Details, timeline and evidence of one incident."""
    incident = _get(f"/v1/incidents/{incident_id}").json()
    details = Table(show_header=False)
    for key in ("id", "title", "severity", "status", "assignee", "rule_id", "group", "tags",
                "duplicate_of", "first_seen", "last_seen", "event_count", "runbook_id",
                "time_to_acknowledge", "time_to_resolve", "version"):  # fmt: skip
        value = incident.get(key)
        details.add_row(key, "-" if value in (None, [], {}) else str(value))
    console.print(details)
    timeline = _get(f"/v1/incidents/{incident_id}/timeline", limit=1000).json()["items"]
    table = Table("when", "who", "what", "changes / comment", title="Timeline")
    for entry in timeline:
        changes = ", ".join(f"{k}: {v['from']} -> {v['to']}" for k, v in entry["changes"].items())
        table.add_row(entry["at"][:19], entry["actor"]["name"], entry["kind"],
                      "; ".join(x for x in (changes, entry["body"] or "") if x))  # fmt: skip
    console.print(table)
    events = _get(f"/v1/incidents/{incident_id}/events", limit=1000).json()["items"]
    table = Table("seq", "time", "action", "actor", "resource", "hash", title="Evidence")
    for e in events:
        table.add_row(str(e["seq"]), e["time"], e["action"], (e["actor"] or {}).get("id", "-"),
                      (e["resource"] or {}).get("id", "-"), e["hash"][:16])  # fmt: skip
    console.print(table)


@app.command("report")
def report(
    incident_id: Annotated[str, typer.Argument(help="INC-N")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write to FILE")] = None,
) -> None:
    """The post-incident report in Markdown."""
    text = _get(f"/v1/incidents/{incident_id}/report").text
    if output is None:
        console.print(Markdown(text))
        return
    output.write_text(text, encoding="utf-8")
    console.print(f"Wrote {output}")


@app.command("audit")
def audit(incident_id: Annotated[str, typer.Argument(help="INC-N")]) -> None:
    """Rebuild the incident from the log alone; exit 1 if the tables disagree."""
    from service.config import Settings
    from service.db import database, session_scope
    from service.incidents.audit import audit_incident
    from service.incidents.errors import IncidentNotFound

    settings = Settings()
    try:
        with database(settings.database_url) as factory, session_scope(factory) as session:
            result = audit_incident(session=session, incident_id=incident_id)
    except IncidentNotFound as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    if result.ok:
        console.print(
            f"[green]OK[/green] {result.incident_id} matches its {result.records} log records"
        )
        return
    err.print(f"[red]MISMATCH[/red] {result.incident_id} ({result.records} log records):")
    for problem in result.differences:
        err.print(f"  - {problem}")
    raise typer.Exit(1)
