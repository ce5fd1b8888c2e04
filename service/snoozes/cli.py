"""`custody snoozes create|list|show|release`, over HTTP (CUSTODY_URL, CUSTODY_TOKEN)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from service.client.terminal import request

app = typer.Typer(no_args_is_help=True, help="Snoozes: silence a rule for a group or an entity.")
console = Console()

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_until(value: str, *, now: datetime | None = None) -> str:
    """`2h`, `30m`, `7d` from now, or an RFC 3339 time with its offset."""
    match = _DURATION.match(value.strip())
    if match:
        delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return ((now or datetime.now(UTC)) + delta).isoformat()
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter("use a duration (2h, 30m, 7d) or an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise typer.BadParameter("give the time with its offset, e.g. 2026-12-07T09:00:00Z")
    return parsed.isoformat()


def _call(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    return dict(request(method, path, **kwargs).json())


def _print(snoozes: list[dict[str, Any]], as_json: bool, *, one: bool = True) -> None:
    """A table, or the API's JSON: an object for one snooze, a list for `list`."""
    if as_json:
        typer.echo(json.dumps(snoozes[0] if one else snoozes, indent=2))
        return
    table = Table("id", "rule", "silences", "until", "active", "silenced", "reason")
    for s in snoozes:
        target = s["entity"] or ", ".join(f"{k}={v}" for k, v in (s["group"] or {}).items())
        table.add_row(s["id"], s["rule_id"], target, s["until"], "yes" if s["active"] else "no",
                      str(s["suppressed"]), s["reason"])  # fmt: skip
    console.print(table)


JsonOpt = Annotated[bool, typer.Option("--json", help="print the API's JSON")]


@app.command()
def create(
    rule: Annotated[str, typer.Argument(help="rule id or name")],
    until: Annotated[str, typer.Option(help="2h, 30m, 7d or an RFC 3339 time")],
    reason: Annotated[str, typer.Option(help="why; kept in the log")],
    group: Annotated[
        list[str] | None, typer.Option(help="FIELD=VALUE of the rule's group-by; repeatable")
    ] = None,
    entity: Annotated[str | None, typer.Option(help="TYPE:VALUE, e.g. ip:203.0.113.7")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Silence a rule's firings for one group or one entity until a time."""
    body: dict[str, Any] = {"rule": rule, "until": parse_until(until), "reason": reason}
    if group:
        pairs = [g.partition("=") for g in group]
        if any(not sep or not key for key, sep, _ in pairs):
            raise typer.BadParameter("use FIELD=VALUE, e.g. actor.id=alice", param_hint="--group")
        body["group"] = {key: value for key, _, value in pairs}
    if entity:
        body["entity"] = entity
    _print([_call("POST", "/v1/snoozes", json_body=body)], as_json)


@app.command("list")
def list_(
    active: Annotated[bool | None, typer.Option("--active/--all", help="only active ones")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Snoozes, newest first."""
    params = {"active": "true"} if active else {}
    _print(_call("GET", "/v1/snoozes", params=params)["items"], as_json, one=False)


@app.command()
def show(snooze_id: str, as_json: JsonOpt = False) -> None:
    """One snooze, with how many firings it silenced."""
    _print([_call("GET", f"/v1/snoozes/{snooze_id}")], as_json)


@app.command()
def release(
    snooze_id: str,
    reason: Annotated[str, typer.Option(help="why it ends early; kept in the log")],
    as_json: JsonOpt = False,
) -> None:
    """End a snooze now."""
    released = _call("POST", f"/v1/snoozes/{snooze_id}/release", json_body={"reason": reason})
    _print([released], as_json)
