"""`custody share INC-7 --format stix|misp`, over HTTP (CUSTODY_URL, CUSTODY_TOKEN)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console

from service.client.http import ClientConfigError, api_client, problem_message
from service.sharing.service import Format

err = Console(stderr=True)


def share(
    incident_id: Annotated[str, typer.Argument(help="INC-N")],
    format: Annotated[Format, typer.Option("--format", "-f", help="stix or misp")] = Format.stix,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file (default stdout)")
    ] = None,
) -> None:
    """Export an incident for peers (STIX 2.1 bundle or MISP event) under its TLP."""
    try:
        with api_client() as client:
            response = client.get(
                f"/v1/incidents/{incident_id}/export", params={"format": format.value}
            )
    except ClientConfigError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    except httpx.HTTPError as exc:
        err.print(f"[red]Cannot reach the server:[/red] {exc}")
        raise typer.Exit(2) from None
    if response.status_code >= 400:
        err.print(f"[red]{problem_message(response)}[/red]")
        raise typer.Exit(1)
    text = json.dumps(response.json(), indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        err.print(f"wrote {output}")
