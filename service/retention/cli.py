"""`custody archive`: old partitions of the log into signed evidence bundles (server
command; PostgreSQL, run with the owner role's CUSTODY_DATABASE_URL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from service.client.terminal import EXIT_USAGE, CliError
from service.client.times import HELP as TIME_HELP
from service.client.times import parse_time
from service.config import Settings

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
Opt = typer.Option


def archive(
    before: Annotated[
        str | None, Opt(help=f"archive partitions whose records are all older: {TIME_HELP}")
    ] = None,
    policy: Annotated[
        bool, Opt("--policy", help="--before now minus CUSTODY_RETENTION_DAYS")
    ] = False,
    output: Annotated[
        Path | None, Opt("-o", "--output", help="directory (default CUSTODY_ARCHIVE_DIR)")
    ] = None,
) -> None:
    """Write whole old partitions of the log as signed evidence bundles, verify them,
    then detach and drop them. Each archival is a `log.archive` record in the log."""
    from service.db import database
    from service.evidence.checkpoints import signer
    from service.retention.archive import ArchiveRefused
    from service.retention.archive import archive as run

    settings = Settings()
    if (before is None) == (not policy):
        raise CliError("give exactly one of --before DATE and --policy", EXIT_USAGE)
    if policy:
        if settings.retention_days is None:
            console.print("retention policy: keep forever (CUSTODY_RETENTION_DAYS is unset)")
            return
        cutoff = datetime.now(UTC) - timedelta(days=settings.retention_days)
    else:
        assert before is not None
        try:
            cutoff = parse_time(before)
        except ValueError as exc:
            raise CliError(f"--before: {exc}", EXIT_USAGE) from None
    directory = output or settings.archive_dir or settings.home / "archive"
    with database(settings.database_url) as factory:
        try:
            done, kept = run(
                factory=factory,
                before=cutoff,
                directory=directory,
                signer=signer(settings.signing_key_path),
            )
        except ArchiveRefused as exc:
            raise CliError(f"nothing dropped: {exc}") from None
    for item in done:
        console.print(
            f"[green]Archived[/green] {item.partition} (seq {item.first_seq}..{item.last_seq}) "
            f"to {escape(str(item.bundle))} sha256 {item.sha256}; log.archive seq "
            f"{item.record_seq}"
        )
    if kept is not None:
        console.print(f"Kept: {escape(kept)}")
    if not done:
        console.print("Nothing archived.")
        if kept is not None and not policy:
            raise typer.Exit(1)  # the partitions asked for were refused


def register(app: typer.Typer) -> None:
    app.command()(archive)
