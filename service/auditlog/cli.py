"""`custody events` and `custody search`: query the log over HTTP (--url/--token or
CUSTODY_URL, CUSTODY_TOKEN), as a table, JSON or NDJSON."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from service.client.terminal import console, emit, plural, request, when
from service.client.times import HELP as TIME_HELP
from service.client.times import time_param
from service.incidents.cli import KEY, OutputOpt, fitted_table

Source = Annotated[str | None, typer.Option(help="source")]
Actor = Annotated[str | None, typer.Option(help="actor.id")]
Action = Annotated[str | None, typer.Option(help="exact, or a prefix ending in * (model.*)")]
ResourceType = Annotated[str | None, typer.Option("--resource-type")]
ResourceId = Annotated[str | None, typer.Option("--resource-id")]
Outcome = Annotated[str | None, typer.Option(help="success, failure, denied or unknown")]
Since = Annotated[str | None, typer.Option(help=f"event time >= since: {TIME_HELP}")]
Until = Annotated[str | None, typer.Option(help=f"event time < until: {TIME_HELP}")]
Limit = Annotated[int, typer.Option(min=1, max=1000, help="at most this many")]
Cursor = Annotated[str | None, typer.Option(help="next_cursor of a previous page")]


def _filters(**values: Any) -> dict[str, Any]:
    values["since"] = time_param(values.get("since"), "--since")
    values["until"] = time_param(values.get("until"), "--until")
    return values


def events_table(items: list[dict[str, Any]]) -> Table:
    # seq, time, action and outcome stay whole; actor and resource give way.
    rows = []
    for e in items:
        resource = e.get("resource") or {}
        rows.append([
            str(e["seq"]), when(e["time"]), e["action"], e["outcome"],
            (e.get("actor") or {}).get("id", "-"),
            "/".join(x for x in (resource.get("type"), resource.get("id")) if x) or "-",
        ])  # fmt: skip
    columns = [("seq", {"key": True, "justify": "right"}), ("time", KEY), ("action", KEY),
               ("outcome", KEY), ("actor", {"min": 8}), ("resource", {"min": 8})]  # fmt: skip
    return fitted_table(columns, rows)


def _page(page: dict[str, Any], noun: str) -> None:
    out = console()
    items = page["items"]
    out.print(events_table(items)) if items else out.print(f"No {noun} match.")
    more = f"; more with --cursor {page['next_cursor']}" if page.get("next_cursor") else ""
    out.print(f"{plural(len(items), 'event')}{more}")


def events(
    source: Source = None,
    actor: Actor = None,
    action: Action = None,
    resource_type: ResourceType = None,
    resource_id: ResourceId = None,
    outcome: Outcome = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    output: OutputOpt = None,
) -> None:
    """Events of the log, oldest first, filtered like GET /v1/events."""
    params = _filters(
        source=source,
        actor=actor,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        outcome=outcome,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    page = request("GET", "/v1/events", params=params).json()
    emit(page, lambda: _page(page, "events"), fmt=output)


def search(
    query: Annotated[str, typer.Argument(help="words in action, actor, resource, payload")],
    source: Source = None,
    actor: Actor = None,
    action: Action = None,
    resource_type: ResourceType = None,
    resource_id: ResourceId = None,
    outcome: Outcome = None,
    since: Since = None,
    until: Until = None,
    include_audit: Annotated[
        bool, typer.Option("--include-audit", help="also match Custody's own audit.read records")
    ] = False,
    limit: Limit = 100,
    cursor: Cursor = None,
    output: OutputOpt = None,
) -> None:
    """Full-text search of the log (GET /v1/search)."""
    params = _filters(
        q=query,
        source=source,
        actor=actor,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        outcome=outcome,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
        include_audit="true" if include_audit else None,
    )
    page = request("GET", "/v1/search", params=params).json()
    emit(page, lambda: _page(page, "events"), fmt=output)


def register(app: typer.Typer) -> None:
    app.command("events")(events)
    app.command("search")(search)
