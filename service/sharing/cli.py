"""`custody share INC-7 --format stix|misp`, over HTTP (CUSTODY_URL, CUSTODY_TOKEN)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from service.client.terminal import request
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
    response = request(
        "GET", f"/v1/incidents/{incident_id}/export", params={"format": format.value}
    )
    text = json.dumps(response.json(), indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        err.print(f"wrote {output}")
