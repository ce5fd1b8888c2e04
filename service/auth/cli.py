"""`custody token create|list|revoke`, run against CUSTODY_DATABASE_URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from service.auth.errors import TokenNotFound
from service.auth.schemas import Scope
from service.auth.service import create_token, list_tokens, parse_duration, revoke_token
from service.client.terminal import CliError, OutputFormat, console, emit
from service.config import Settings
from service.db import database, session_scope

app = typer.Typer(no_args_is_help=True, help="API tokens (run where the database is reachable).")

OutputOpt = Annotated[
    OutputFormat | None,
    typer.Option("--output", help="table, json or ndjson (default: the global --output)"),
]


@contextmanager
def _session() -> Iterator[Session]:
    from service.cli import ensure_migrated

    settings = Settings()
    ensure_migrated(settings)
    with database(settings.database_url) as factory, session_scope(factory) as session:
        yield session


def _stamp(value: object) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else ""


@app.command("create")
def create(
    scope: Annotated[Scope, typer.Option(help="ingest, read, respond or admin")],
    source: Annotated[str | None, typer.Option(help="bind an ingest token to one source")] = None,
    name: Annotated[str, typer.Option(help="a name to tell tokens apart")] = "",
    expires: Annotated[str | None, typer.Option(help="lifetime, e.g. 90d, 12h")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print the secret alone")] = False,
    output: OutputOpt = None,
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

    def text() -> None:
        bound = f", source {token.source}" if token.source else ""
        out = console()
        out.print(f"Created {token.id} ({token.scope.value}{bound})")
        out.print("Secret (shown once, store it now):")
        typer.echo(token.secret)

    emit(token.model_dump(mode="json"), text, fmt=output)


@app.command("list")
def list_(output: OutputOpt = None) -> None:
    """List tokens (never their secrets); ids in full, to paste into `token revoke`."""
    with _session() as session:
        tokens = list_tokens(session=session)

    def table() -> None:
        from service.incidents.cli import KEY, fitted_table

        rows = []
        for tok in tokens:
            state = (
                f"revoked {_stamp(tok.revoked_at)[:10]}" if tok.revoked_at
                else f"expires {_stamp(tok.expires_at)[:10]}" if tok.expires_at
                else "active"
            )  # fmt: skip
            rows.append([tok.id, tok.name or "-", tok.scope.value, tok.source or "-",
                         _stamp(tok.created_at)[:10], state])  # fmt: skip
        columns = [("id", KEY), ("name", {"min": 6}), ("scope", KEY), ("source", {"min": 6}),
                   ("created", KEY), ("state", KEY)]  # fmt: skip
        out = console()
        out.print(fitted_table(columns, rows)) if tokens else out.print("No tokens yet.")

    emit(
        {"items": [t.model_dump(mode="json") for t in tokens], "next_cursor": None},
        table,
        fmt=output,
    )


@app.command("revoke")
def revoke(
    token_id: Annotated[str, typer.Argument(help="the token id (tok_...)")],
    output: OutputOpt = None,
) -> None:
    """Revoke a token; it stops working immediately."""
    try:
        with _session() as session:
            token = revoke_token(session=session, token_id=token_id)
    except TokenNotFound:
        raise CliError(f"no token {token_id} (custody token list shows the ids)") from None
    emit(token.model_dump(mode="json"), lambda: console().print(f"Revoked {token.id}"), fmt=output)
