"""`custody token create|list|revoke`, run against CUSTODY_DATABASE_URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from service.auth.schemas import Scope
from service.auth.service import create_token, list_tokens, parse_duration, revoke_token
from service.config import Settings
from service.db import database, session_scope

app = typer.Typer(no_args_is_help=True, help="API tokens (run where the database is reachable).")
console = Console()


@contextmanager
def _session() -> Iterator[Session]:
    from service.cli import ensure_migrated

    settings = Settings()
    ensure_migrated(settings)
    with database(settings.database_url) as factory, session_scope(factory) as session:
        yield session


@app.command("create")
def create(
    scope: Annotated[Scope, typer.Option(help="ingest, read, respond or admin")],
    source: Annotated[str | None, typer.Option(help="bind an ingest token to one source")] = None,
    name: Annotated[str, typer.Option(help="a name to tell tokens apart")] = "",
    expires: Annotated[str | None, typer.Option(help="lifetime, e.g. 90d, 12h")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print the secret alone")] = False,
) -> None:
    """Create a token. The secret is printed once and stored only as a hash."""
    try:
        lifetime = parse_duration(expires) if expires else None
        with _session() as session:
            token = create_token(
                session=session, scope=scope, name=name, source=source, expires_in=lifetime
            )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if quiet:
        typer.echo(token.secret)
        return
    bound = f", source {token.source}" if token.source else ""
    console.print(f"Created {token.id} ({token.scope.value}{bound})")
    console.print("Secret (shown once, store it now):")
    typer.echo(token.secret)


@app.command("list")
def list_() -> None:
    """List tokens (never their secrets)."""
    with _session() as session:
        tokens = list_tokens(session=session)
    table = Table("id", "name", "scope", "source", "prefix", "created", "expires", "revoked")
    for t in tokens:
        table.add_row(
            t.id,
            t.name,
            t.scope.value,
            t.source or "",
            t.prefix,
            f"{t.created_at:%Y-%m-%d %H:%M}",
            f"{t.expires_at:%Y-%m-%d %H:%M}" if t.expires_at else "",
            f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "",
        )
    console.print(table)


@app.command("revoke")
def revoke(token_id: Annotated[str, typer.Argument(help="the token id (tok_...)")]) -> None:
    """Revoke a token; it stops working immediately."""
    with _session() as session:
        token = revoke_token(session=session, token_id=token_id)
    console.print(f"Revoked {token.id}")
