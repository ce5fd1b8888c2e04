"""`custody ship FILE... | -`: send log files to a Custody server (CUSTODY_URL, CUSTODY_TOKEN).

Exit codes: 0 everything stored; 1 a record was refused or unreadable (printed with its
file:line); 2 bad usage or configuration; 3 the server stayed unavailable.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from service.adapters import ADAPTERS
from service.client.batching import DEFAULT_MAX_BYTES, MiB
from service.client.http import ClientConfigError
from service.client.progress import reporter
from service.client.retry import GaveUp, RetryPolicy, WrongURL
from service.client.sender import Client
from service.client.ship import ShipOptions, ShipRejected, ship
from service.client.sources import STDIN
from service.client.terminal import GLOBALS, plural

err = Console(stderr=True)
out = Console()


def default_state_file(path: str) -> Path:
    """One state file per followed path, under $XDG_STATE_HOME/custody."""
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    digest = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:16]
    return base / "custody" / f"ship-{Path(path).name}-{digest}.json"


def _check_format(value: str | None) -> str | None:
    if value is not None and value not in ADAPTERS:
        raise typer.BadParameter(f"one of {', '.join(ADAPTERS)}")
    return value


def ship_command(
    files: Annotated[
        list[str], typer.Argument(help="NDJSON or JSON files (.gz too), or - for stdin")
    ],
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help=f"input format ({', '.join(ADAPTERS)}); detected per record by default",
            callback=_check_format,
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=10_000, help="events per request")
    ] = 1000,
    batch_bytes: Annotated[
        int, typer.Option("--batch-bytes", min=1024, max=10 * MiB, help="bytes per request")
    ] = DEFAULT_MAX_BYTES,
    follow: Annotated[
        bool, typer.Option("--follow", "-F", help="keep reading one growing file (tail -F)")
    ] = False,
    state_file: Annotated[
        Path | None,
        typer.Option("--state-file", help="where --follow remembers its position"),
    ] = None,
    compress: Annotated[bool, typer.Option("--gzip", help="gzip request bodies")] = False,
    max_attempts: Annotated[
        int | None,
        typer.Option(
            "--max-attempts",
            min=1,
            help="tries per batch before giving up [default: 10; unlimited with --follow]",
        ),
    ] = None,
    url: Annotated[
        str | None, typer.Option(envvar="CUSTODY_URL", help="server URL (or custody --url)")
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="CUSTODY_TOKEN", help="API token (or custody --token)")
    ] = None,
) -> None:
    """Ship audit events to Custody: Custody NDJSON, CloudTrail, OpenAI, GCP, Bedrock and
    Azure OpenAI logs.

    Events without an id get one derived from their position and
    content, so running it twice (or retrying) never stores an event twice."""
    if follow and (len(files) != 1 or files[0] == STDIN or files[0].endswith(".gz")):
        err.print("[red]--follow takes exactly one plain file[/red]")
        raise typer.Exit(2)
    missing = [f for f in files if f != STDIN and not follow and not Path(f).is_file()]
    if missing:
        err.print(f"[red]no such file:[/red] {', '.join(missing)}", highlight=False)
        raise typer.Exit(2)
    # A follower is a daemon: by default it outlasts a server outage instead of exiting.
    attempts = max_attempts if max_attempts is not None else (None if follow else 10)
    if follow and state_file is None:
        state_file = default_state_file(files[0])
    if state_file is not None:
        state_file.parent.mkdir(parents=True, exist_ok=True)
    options = ShipOptions(
        format=format,
        batch_size=batch_size,
        max_batch_bytes=batch_bytes,
        follow=follow,
        state_file=state_file,
    )
    url, token = url or GLOBALS.url, token or GLOBALS.token
    try:
        client = Client(url, token, retry=RetryPolicy(max_attempts=attempts), compress=compress)
    except ClientConfigError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    label = "following " + files[0] if follow else "shipping"
    try:
        with client, reporter(err, label) as progress:
            result = ship(files, client=client, options=options, reporter=progress)
    except ShipRejected as exc:
        err.print(f"[red]stopped:[/red] {exc.summary}", highlight=False, soft_wrap=True)
        for line in exc.lines:
            err.print(f"  {line}", highlight=False, soft_wrap=True, markup=False)
        raise typer.Exit(1) from None
    except GaveUp as exc:
        err.print(f"[red]server unavailable:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(3) from None
    except WrongURL as exc:
        err.print(f"[red]wrong server URL:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except (OSError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err.print("interrupted; acknowledged events are stored")
        raise typer.Exit(130) from None
    out.print(
        f"{plural(result.accepted + result.duplicates, 'event')} shipped: {result.accepted} new, "
        f"{result.duplicates} already stored; head {result.head_hash or '-'}",
        highlight=False,
        soft_wrap=True,
    )
