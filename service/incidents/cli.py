"""`custody incidents list|show|report|stats` (HTTP: --url/--token or CUSTODY_URL,
CUSTODY_TOKEN) and `custody incidents audit` (database: CUSTODY_DATABASE_URL). The triage
commands (ack, assign, ...) live in `service.incidents.triage_cli`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich import box
from rich.markdown import Markdown
from rich.table import Table

from service.client.terminal import (
    CliError,
    OutputFormat,
    console,
    emit,
    plural,
    request,
    seconds,
    short_when,
    when,
)
from service.client.times import HELP as TIME_HELP
from service.client.times import time_param

app = typer.Typer(no_args_is_help=True, help="Incidents: triage from the terminal.")

OutputOpt = Annotated[
    OutputFormat | None,
    typer.Option("--output", help="table, json or ndjson (default: the global --output)"),
]
IncidentArg = Annotated[str, typer.Argument(help="INC-N")]


def _get(path: str, **params: Any) -> httpx.Response:
    return request("GET", path, params=params)


def rule_names() -> dict[str, str]:
    """Rule id -> name, so people read names; ids stay in JSON output."""
    try:
        page = _get("/v1/rules").json()
    except CliError:
        return {}  # names are a nicety: the incident is still shown with the id
    return {r["id"]: r.get("title") or r.get("name") or r["id"] for r in page["items"]}


def fitted_table(
    columns: list[tuple[str, dict[str, Any]]], rows: list[list[str]], width: int | None = None
) -> Table:
    """A table that fits the terminal on one line per row: `key` columns keep their full
    width (ids, states, times are never cut), the others share what is left and end in an
    ellipsis. Widths are set here because rich, left alone, cuts the key columns first."""
    total = width or console().width
    natural = [max([len(name), *(len(r[i]) for r in rows)]) for i, (name, _) in enumerate(columns)]
    fixed = sum(w for w, (_, how) in zip(natural, columns, strict=True) if how.get("key"))
    flex = [i for i, (_, how) in enumerate(columns) if not how.get("key")]
    room = max(total - 3 * (len(columns) - 1) - fixed, 4 * len(flex))
    widths = list(natural)
    if sum(natural[i] for i in flex) > room:
        # Each flexible column gets its minimum, then the rest by ratio, none beyond need.
        mins = {i: min(natural[i], columns[i][1].get("min", 4)) for i in flex}
        spare = room - sum(mins.values())
        weights = sum(columns[i][1].get("ratio", 1) for i in flex)
        for i in flex:
            share = spare * columns[i][1].get("ratio", 1) // weights
            widths[i] = min(natural[i], mins[i] + max(share, 0))
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for (name, how), w in zip(columns, widths, strict=True):
        table.add_column(
            name, width=w, no_wrap=True, overflow="ellipsis", justify=how.get("justify", "left")
        )
    for row in rows:
        table.add_row(*row)
    return table


KEY: dict[str, Any] = {"key": True}


def incidents_table(items: list[dict[str, Any]]) -> Table:
    rows = [
        [
            i["id"],
            i["severity"],
            i["status"],
            i["title"],
            i["assignee"] or "-",
            str(i["event_count"]),
            short_when(i["opened_at"]),
        ]
        for i in items
    ]
    columns = [
        ("id", KEY),
        ("sev", KEY),
        ("status", KEY),
        ("title", {"ratio": 3, "min": 10}),
        ("assignee", {"min": 6}),
        ("events", {"key": True, "justify": "right"}),
        ("opened", KEY),
    ]
    return fitted_table(columns, rows)


@app.command("list")
def list_(
    status: Annotated[list[str] | None, typer.Option(help="repeatable: --status open")] = None,
    severity: Annotated[list[str] | None, typer.Option(help="repeatable")] = None,
    assignee: Annotated[str | None, typer.Option()] = None,
    since: Annotated[str | None, typer.Option(help=f"opened at or after: {TIME_HELP}")] = None,
    until: Annotated[str | None, typer.Option(help=f"opened before: {TIME_HELP}")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    output: OutputOpt = None,
) -> None:
    """Incidents, newest first."""
    params: dict[str, Any] = {
        "limit": limit,
        "status": status,
        "severity": severity,
        "assignee": assignee,
        "opened_since": time_param(since, "--since"),
        "opened_until": time_param(until, "--until"),
    }
    page = _get("/v1/incidents", **params).json()

    def table() -> None:
        out = console()
        if not page["items"]:
            out.print("No incidents match.")
            return
        out.print(incidents_table(page["items"]))
        if page["next_cursor"]:
            out.print(f"(more: raise --limit; cursor {page['next_cursor']})")

    emit(page, table, fmt=output)


def _changes(entry: dict[str, Any]) -> str:
    parts = []
    for field, change in (entry.get("changes") or {}).items():
        before = "-" if change.get("from") is None else change.get("from")
        after = "-" if change.get("to") is None else change.get("to")
        parts.append(f"{field} {before} → {after}")
    return "; ".join(parts)


def _pairs(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items()) or "-"


def _details(incident: dict[str, Any], names: dict[str, str]) -> Table:
    details = Table(show_header=False, box=None, pad_edge=False)
    details.add_column(style="bold", no_wrap=True)
    details.add_column(overflow="fold")
    rule = incident.get("rule_id")
    sla = incident.get("sla") or {}
    rows = [
        ("title", incident["title"]),
        ("severity", incident["severity"]),
        (
            "status",
            incident["status"]
            + (
                f" (duplicate of {incident['duplicate_of']})"
                if incident.get("duplicate_of")
                else ""
            ),
        ),
        ("assignee", incident.get("assignee") or "-"),
        ("rule", names.get(rule, rule) if rule else "- (opened by hand)"),
        ("group", _pairs(incident.get("group") or {})),
        ("tags", ", ".join(incident.get("tags") or []) or "-"),
        ("evidence", plural(incident["event_count"], "event")),
        ("seen", f"{when(incident.get('first_seen'))} .. {when(incident.get('last_seen'))}"),
        ("opened", f"{when(incident['opened_at'])} by {incident['opened_by']}"),
        ("runbook", incident.get("runbook_id") or "-"),
        ("time to acknowledge", seconds(incident.get("time_to_acknowledge"))),
        ("time to resolve", seconds(incident.get("time_to_resolve"))),
        ("next states", ", ".join(incident.get("allowed_transitions") or []) or "- (final)"),
        ("version", str(incident["version"])),
    ]
    if sla:
        due = (
            f"acknowledge by {when(sla.get('acknowledge_due'))}, "
            f"resolve by {when(sla.get('resolve_due'))}"
        )
        if sla.get("overdue"):
            due += f"; OVERDUE: {', '.join(sla['overdue'])}"
        if sla.get("waiting_reason"):
            due += f"; waiting since {when(sla.get('waiting_since'))}: {sla['waiting_reason']}"
        rows.append(("sla", due))
    for key, value in rows:
        details.add_row(key, str(value))
    return details


def _show_tables(
    incident: dict[str, Any],
    timeline: list[dict[str, Any]],
    evidence: list[dict[str, Any]],
    names: dict[str, str],
) -> None:
    out = console()
    out.print(f"[bold]{incident['id']}[/bold]  {incident['title']}", soft_wrap=True)
    out.print(_details(incident, names))
    if incident.get("description"):
        out.print(incident["description"], soft_wrap=True)
    entities = incident.get("entities") or []
    if entities:
        table = Table(
            "type",
            "value",
            "events",
            "last seen",
            title="Entities",
            box=box.SIMPLE_HEAD,
            title_justify="left",
        )
        for e in entities:
            table.add_row(e["type"], e["value"], str(e["count"]), when(e.get("last_seen")))
        out.print(table)
    related = incident.get("related") or []
    if related:
        table = Table(
            "id",
            "status",
            "link",
            "shares",
            "title",
            title="Related",
            box=box.SIMPLE_HEAD,
            title_justify="left",
        )
        for r in related:
            shared = ", ".join(f"{s['type']}={s['value']}" for s in r.get("shared") or [])
            table.add_row(r["id"], r["status"], r.get("link") or "-", shared or "-", r["title"])
        out.print(table)
    table = Table(
        "when",
        "who",
        "what",
        "details",
        title="Timeline",
        box=box.SIMPLE_HEAD,
        title_justify="left",
    )
    for entry in timeline:
        text = "; ".join(x for x in (_changes(entry), entry.get("body") or "") if x)
        table.add_row(when(entry["at"]), entry["actor"]["name"], entry["kind"], text)
    out.print(table)
    table = Table(
        "seq",
        "time",
        "action",
        "actor",
        "resource",
        title="Evidence",
        box=box.SIMPLE_HEAD,
        title_justify="left",
    )
    for e in evidence:
        resource = e.get("resource") or {}
        table.add_row(
            str(e["seq"]),
            when(e["time"]),
            e["action"],
            (e.get("actor") or {}).get("id", "-"),
            "/".join(x for x in (resource.get("type"), resource.get("id")) if x) or "-",
        )
    out.print(table)


@app.command("show")
def show(incident_id: IncidentArg, output: OutputOpt = None) -> None:
    """Details, entities, related incidents, SLA, timeline and evidence of one incident.

    JSON: the API's incident with its `timeline` and `evidence` lists added."""
    incident = _get(f"/v1/incidents/{incident_id}").json()
    timeline = _get(f"/v1/incidents/{incident_id}/timeline", limit=1000).json()["items"]
    evidence = _get(f"/v1/incidents/{incident_id}/events", limit=1000).json()["items"]
    emit(
        {**incident, "timeline": timeline, "evidence": evidence},
        lambda: _show_tables(incident, timeline, evidence, rule_names()),
        fmt=output,
    )


@app.command("stats")
def stats(output: OutputOpt = None) -> None:
    """Counts by status and severity; median and p90 time to acknowledge and resolve."""
    data = _get("/v1/incidents/stats").json()

    def table() -> None:
        out = console()
        out.print(f"{plural(data['total'], 'incident')}")
        out.print("by status: " + _pairs(data["by_status"]))
        out.print("by severity: " + _pairs(data["by_severity"]))
        for key in ("time_to_acknowledge", "time_to_resolve"):
            d = data[key]
            out.print(
                f"{key.replace('_', ' ')}: median {seconds(d['median'])}, "
                f"p90 {seconds(d['p90'])} over {plural(d['count'], 'incident')}"
            )

    emit(data, table, fmt=output)


@app.command("report")
def report(
    incident_id: IncidentArg,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write to FILE")] = None,
) -> None:
    """The post-incident report in Markdown."""
    text = _get(f"/v1/incidents/{incident_id}/report").text
    if output is None:
        console().print(Markdown(text))
        return
    output.write_text(text, encoding="utf-8")
    console().print(f"Wrote {output}")


@app.command("audit")
def audit(incident_id: IncidentArg) -> None:
    """Rebuild the incident from the log alone; exit 1 if the tables disagree."""
    from service.client.terminal import err
    from service.config import Settings
    from service.db import database, session_scope
    from service.incidents.audit import audit_incident
    from service.incidents.errors import IncidentNotFound

    settings = Settings()
    try:
        with database(settings.database_url) as factory, session_scope(factory) as session:
            result = audit_incident(session=session, incident_id=incident_id)
    except IncidentNotFound as exc:
        raise CliError(str(exc)) from None
    if result.ok:
        console().print(
            f"[green]OK[/green] {result.incident_id} matches its "
            f"{plural(result.records, 'log record')}"
        )
        return
    err.print(f"[red]MISMATCH[/red] {result.incident_id} ({plural(result.records, 'log record')}):")
    for problem in result.differences:
        err.print(f"  - {problem}")
    raise typer.Exit(1)


__all__ = ["TIME_HELP", "app", "incidents_table", "rule_names", "time_param"]
