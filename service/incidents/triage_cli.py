"""`custody incidents ack|assign|comment|status|resolve|step|runbook|evidence`: the API's
triage, with the ETag read and sent for the user.

A change reads the incident, then sends its ETag in If-Match, so a change made meanwhile
by someone else is a 412 and never overwritten; `--if-version N` pins the version the
responder actually looked at (`incidents show` prints it)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from service.client.terminal import (
    EXIT_CONFLICT,
    CliError,
    console,
    emit,
    plural,
    request,
)
from service.incidents.cli import IncidentArg, OutputOpt, app

IfVersion = Annotated[
    int | None,
    typer.Option("--if-version", min=1, help="refuse if the incident is no longer at this version"),
]
STATUSES = (
    "open",
    "acknowledged",
    "contained",
    "resolved",
    "closed",
    "false_positive",
    "duplicate",
)


def _summary(incident: dict[str, Any]) -> str:
    who = incident.get("assignee") or "unassigned"
    return (
        f"{incident['id']} is {incident['status']}, {who}, version {incident['version']}"
        f" (next: {', '.join(incident.get('allowed_transitions') or []) or 'none'})"
    )


def patch(incident_id: str, changes: dict[str, Any], if_version: int | None) -> dict[str, Any]:
    """PATCH with If-Match; a 412 is explained with the incident as it now stands."""
    version = if_version
    if version is None:
        version = request("GET", f"/v1/incidents/{incident_id}").json()["version"]
    response = request(
        "PATCH",
        f"/v1/incidents/{incident_id}",
        json_body=changes,
        headers={"If-Match": f'"{version}"'},
        ok=(412,),
    )
    if response.status_code == 412:
        now = request("GET", f"/v1/incidents/{incident_id}").json()
        raise CliError(
            f"{incident_id} changed since version {version} (now {_summary(now)}); "
            f"look with `custody incidents show {incident_id}` and run again",
            EXIT_CONFLICT,
        )
    result: dict[str, Any] = response.json()
    return result


def _done(incident: dict[str, Any], output: Any) -> None:
    emit(incident, lambda: console().print(_summary(incident), soft_wrap=True), fmt=output)


@app.command("ack")
def ack(
    incident_id: IncidentArg,
    assign: Annotated[str | None, typer.Option("--assign", help="also assign it")] = None,
    if_version: IfVersion = None,
    output: OutputOpt = None,
) -> None:
    """Acknowledge an open incident (optionally assigning it)."""
    changes: dict[str, Any] = {"status": "acknowledged"}
    if assign:
        changes["assignee"] = assign
    _done(patch(incident_id, changes, if_version), output)


@app.command("assign")
def assign(
    incident_id: IncidentArg,
    assignee: Annotated[str, typer.Argument(help="who takes it; - to unassign")],
    if_version: IfVersion = None,
    output: OutputOpt = None,
) -> None:
    """Assign (or with -, unassign) an incident."""
    value = None if assignee == "-" else assignee
    _done(patch(incident_id, {"assignee": value}, if_version), output)


@app.command("status")
def status(
    incident_id: IncidentArg,
    new_status: Annotated[str, typer.Argument(metavar="STATUS", help=" | ".join(STATUSES))],
    duplicate_of: Annotated[
        str | None, typer.Option("--duplicate-of", help="INC-N, with status duplicate")
    ] = None,
    waiting: Annotated[
        str | None, typer.Option(help="why it waits on someone else (pauses the SLA clocks)")
    ] = None,
    if_version: IfVersion = None,
    output: OutputOpt = None,
) -> None:
    """Move an incident to another status (the API's transition rules apply)."""
    if new_status not in STATUSES:
        raise typer.BadParameter(f"one of {', '.join(STATUSES)}", param_hint="STATUS")
    changes: dict[str, Any] = {"status": new_status}
    if duplicate_of:
        changes["duplicate_of"] = duplicate_of
    if waiting:
        changes["waiting"] = waiting
    _done(patch(incident_id, changes, if_version), output)


@app.command("resolve")
def resolve(
    incident_id: IncidentArg,
    comment: Annotated[str | None, typer.Option("--comment", "-m", help="say how")] = None,
    if_version: IfVersion = None,
    output: OutputOpt = None,
) -> None:
    """Resolve an incident; refused while a required runbook step is open."""
    incident = patch(incident_id, {"status": "resolved"}, if_version)
    if comment:
        request("POST", f"/v1/incidents/{incident_id}/comments", json_body={"body": comment})
        incident = request("GET", f"/v1/incidents/{incident_id}").json()
    _done(incident, output)


@app.command("comment")
def comment(
    incident_id: IncidentArg,
    body: Annotated[str, typer.Argument(help="the comment (Markdown)")],
    output: OutputOpt = None,
) -> None:
    """Add a comment to the timeline."""
    entry = request(
        "POST", f"/v1/incidents/{incident_id}/comments", json_body={"body": body}
    ).json()
    emit(
        entry,
        lambda: console().print(f"Commented on {incident_id} (entry {entry['id']})"),
        fmt=output,
    )


@app.command("evidence")
def evidence(
    incident_id: IncidentArg,
    seqs: Annotated[list[int], typer.Argument(help="log seqs to attach", min=1)],
    output: OutputOpt = None,
) -> None:
    """Attach log events (by seq) to an incident as evidence."""
    result = request(
        "POST", f"/v1/incidents/{incident_id}/evidence", json_body={"seqs": seqs}
    ).json()

    def table() -> None:
        already = (
            f"; {plural(len(result['already']), 'was', 'were')} already there"
            if result["already"]
            else ""
        )
        console().print(
            f"Attached {plural(len(result['added']), 'event')} to "
            f"{incident_id}{already}; it now holds "
            f"{plural(result['incident']['event_count'], 'event')}"
        )

    emit(result, table, fmt=output)


def _steps_table(instance: dict[str, Any]) -> Table:
    table = Table("phase", "step", "status", "req", "title", box=box.SIMPLE_HEAD)
    for phase in instance["phases"]:
        for step in phase["steps"]:
            table.add_row(
                phase["phase"],
                step["id"],
                step["status"],
                "yes" if step.get("required") else "",
                step.get("title", ""),
            )
    return table


def _progress(instance: dict[str, Any]) -> str:
    p = instance.get("progress") or {}
    text = (
        f"{instance.get('runbook_id', '')}: {p.get('done', 0)} done, "
        f"{p.get('skipped', 0)} skipped, {p.get('open', 0)} open of "
        f"{plural(p.get('total', 0), 'step')} ({p.get('percent', 0)}%)"
    )
    if p.get("required_open"):
        text += f"; required before resolving: {', '.join(p['required_open'])}"
    return text


@app.command("runbook")
def runbook(incident_id: IncidentArg, output: OutputOpt = None) -> None:
    """The incident's runbook: each step with its status."""
    instance = request("GET", f"/v1/incidents/{incident_id}/runbook").json()

    def table() -> None:
        out = console()
        out.print(_progress(instance), soft_wrap=True)
        out.print(_steps_table(instance))

    emit(instance, table, fmt=output)


@app.command("step")
def step(
    incident_id: IncidentArg,
    step_id: Annotated[str, typer.Argument(help="the step id (see `incidents runbook`)")],
    new_status: Annotated[str, typer.Argument(metavar="STATUS", help="done | skipped | open")],
    note: Annotated[str | None, typer.Option("--note", "-m", help="what was found or why")] = None,
    evidence: Annotated[
        list[int] | None, typer.Option("--evidence", help="seq to attach; repeatable")
    ] = None,
    output: OutputOpt = None,
) -> None:
    """Mark a runbook step done or skipped, or reopen it (a note says why)."""
    if new_status not in ("done", "skipped", "open"):
        raise typer.BadParameter("one of done, skipped, open", param_hint="STATUS")
    body: dict[str, Any] = {"status": new_status, "note": note, "evidence": evidence or []}
    instance = request(
        "POST", f"/v1/incidents/{incident_id}/runbook/steps/{step_id}", json_body=body
    ).json()
    emit(
        instance,
        lambda: console().print(f"{step_id}: {new_status}; {_progress(instance)}"),
        fmt=output,
    )
