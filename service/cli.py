"""The `custody` command: server commands read CUSTODY_DATABASE_URL, client commands
read CUSTODY_URL and CUSTODY_TOKEN."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.exc import DBAPIError

from service.auth.cli import app as token_app
from service.client import cli as ship_cli
from service.config import Settings
from service.db import database, make_engine
from service.evidence import cli as evidence_cli
from service.incidents import cli as incidents_cli
from service.logging import configure_logging, get_logger
from service.rules import cli as rules_cli
from service.runbooks import cli as runbooks_cli
from service.sharing import cli as sharing_cli
from service.snoozes import cli as snoozes_cli

app = typer.Typer(
    no_args_is_help=True,
    help="Custody: tamper-evident audit log and incident response for AI systems.",
)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(rules_cli.app, name="rules")
app.add_typer(incidents_cli.app, name="incidents")
app.add_typer(runbooks_cli.app, name="runbooks")
app.add_typer(snoozes_cli.app, name="snoozes")
app.command("share")(sharing_cli.share)
evidence_cli.register(app)  # replay, export, verify-bundle
app.command("ship")(ship_cli.ship_command)

console = Console(soft_wrap=True)  # hashes must stay on one line, whatever the width
err = Console(stderr=True, soft_wrap=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to CUSTODY_DATABASE_URL."""
    from service import migrate

    settings = Settings()
    migrate.upgrade(settings.database_url)
    console.print(f"[green]Database is up to date[/green] ({_safe_url(settings.database_url)})")


@db_app.command("check")
def db_check() -> None:
    """Fail if the models and the migrations disagree (alembic check)."""
    from service import migrate

    migrate.check(Settings().database_url)
    console.print("[green]Models and migrations agree[/green]")


@db_app.command("roles")
def db_roles(
    runtime_role: Annotated[str, typer.Option("--runtime-role", help="role the service uses")],
    password_env: Annotated[
        str | None, typer.Option("--password-env", help="env variable holding its password")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the SQL, change nothing")] = (
        False
    ),
) -> None:
    """PostgreSQL: create or update the runtime role with least-privilege grants.

    Run as the owner role (the one that ran `custody db upgrade`), after every upgrade.
    Idempotent; prints each statement it runs."""
    from service import dbroles

    settings = Settings()
    if settings.is_sqlite:
        err.print("SQLite has no roles: `custody db roles` is for PostgreSQL")
        raise typer.Exit(2)
    password = None
    if password_env is not None:
        password = os.environ.get(password_env)
        if not password:
            err.print(f"[red]{password_env} is not set[/red]")
            raise typer.Exit(2)
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            try:
                plan = dbroles.plan(conn, role=runtime_role, password=password)
            except dbroles.RolesError as exc:
                err.print(f"[red]{exc}[/red]")
                raise typer.Exit(1) from None
            for statement in plan.statements:
                console.print(dbroles.render(conn, statement) + ";", highlight=False)
            if not dry_run:
                dbroles.apply(conn, plan.statements)
    except DBAPIError as exc:
        err.print(f"[red]FAILED[/red] {str(exc.orig).splitlines()[0]}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    for table in plan.unclassified:
        err.print(f"[yellow]warning[/yellow] {table} has no grant policy: given full DML")
    if not dry_run:
        console.print(f"[green]Runtime role {runtime_role} is set up[/green]")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def ensure_migrated(settings: Settings) -> None:
    """SQLite (the embedded default) is migrated automatically; PostgreSQL must be
    migrated on purpose, with `custody db upgrade`, so a deploy never races a migration."""
    from service import migrate

    engine = make_engine(settings.database_url)
    try:
        if migrate.is_up_to_date(engine):
            return
        if settings.is_sqlite:
            get_logger("custody").info("db.migrate", url=_safe_url(settings.database_url))
            migrate.upgrade(settings.database_url)
            return
    finally:
        engine.dispose()
    err.print(
        f"[red]The database {_safe_url(settings.database_url)} is not migrated.[/red] "
        "Run: custody db upgrade"
    )
    raise typer.Exit(2)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
) -> None:
    """Run the API (and, on the embedded default, the background workers)."""
    import uvicorn

    from service.app import create_app

    settings = Settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    ensure_migrated(settings)
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        access_log=False,
    )


@app.command()
def worker() -> None:
    """Run the background loops (rules engine, checkpointer) for production."""
    import signal
    import threading

    from service import worker as worker_mod

    settings = Settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    ensure_migrated(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    tasks = worker_mod.build_tasks(settings)
    get_logger("custody").info("worker.start", tasks=[t.name for t in tasks])
    with database(settings.database_url) as factory:
        worker_mod.run(tasks, factory, stop, heartbeat=settings.worker_heartbeat_file)


@app.command()
def verify(
    from_seq: Annotated[int, typer.Option("--from-seq", min=1, help="First seq to check")] = 1,
    to_seq: Annotated[int | None, typer.Option("--to-seq", min=1, help="Last seq to check")] = None,
    against: Annotated[Path | None, typer.Option("--against-checkpoint", help="saved JSON")] = None,
    public_key: Annotated[Path | None, typer.Option(help="PEM (default: the server's)")] = None,
) -> None:
    """Walk the hash chain; exit non-zero and name the first bad seq if it does not hold."""
    from service.auditlog.verify import verify_chain

    settings = Settings()
    with database(settings.database_url) as factory, factory() as session:  # read-only
        report = verify_chain(session=session, from_seq=from_seq, to_seq=to_seq)
    if report.ok:
        console.print(
            f"[green]OK[/green] {report.checked} records verified "
            f"(seq {report.from_seq}..{report.to_seq}); head {report.head_seq} {report.head_hash}"
        )
        if against is not None:
            evidence_cli.against_checkpoint(settings, against, public_key)
        return
    err.print(f"[red]FAILED[/red] at seq {report.first_bad_seq}: {report.reason}")
    raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
