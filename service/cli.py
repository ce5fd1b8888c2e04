"""The `custody` command: server commands read CUSTODY_DATABASE_URL, client commands
read --url/--token (CUSTODY_URL, CUSTODY_TOKEN). Exit codes: service.client.terminal."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from service import typerfix
from service.auditlog import cli as events_cli
from service.auth.cli import app as token_app
from service.client import cli as ship_cli
from service.client.terminal import EXIT_REFUSED, EXIT_USAGE, GLOBALS, CliError, OutputFormat
from service.config import Settings
from service.db import database, make_engine
from service.evidence import cli as evidence_cli
from service.evidence import keys_cli, witness_cli
from service.incidents import cli as incidents_cli
from service.incidents import triage_cli  # noqa: F401  (registers ack, assign, ...)
from service.logging import configure_logging, get_logger
from service.retention import cli as retention_cli
from service.rules import cli as rules_cli
from service.runbooks import cli as runbooks_cli
from service.search import cli as search_cli
from service.sharing import cli as sharing_cli
from service.snoozes import cli as snoozes_cli

typerfix.apply()


class CustodyGroup(typer.core.TyperGroup):
    """Turns the failures a user can meet into one line and an exit code, never a
    traceback (CUSTODY_DEBUG=1 shows it)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as exc:
            failure = exc
        except ValidationError as exc:  # Settings from the environment
            error = exc.errors()[0]
            name = "CUSTODY_" + str(error["loc"][0]).upper() if error["loc"] else "settings"
            failure = CliError(f"{name}: {error['msg']}", EXIT_USAGE)
        except DBAPIError as exc:
            if os.environ.get("CUSTODY_DEBUG"):
                raise
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            failure = CliError(f"database {_safe_url(_db_url())}: {first}", EXIT_USAGE)
        except (SQLAlchemyError, OSError) as exc:
            if os.environ.get("CUSTODY_DEBUG"):
                raise
            failure = CliError(f"{type(exc).__name__}: {exc}", EXIT_REFUSED)
        failure.show()
        raise typer.Exit(failure.code)


def _db_url() -> str:
    try:
        return Settings().database_url
    except ValueError:
        return os.environ.get("CUSTODY_DATABASE_URL", "?")


app = typer.Typer(
    cls=CustodyGroup,
    no_args_is_help=True,
    help="Custody: tamper-evident audit log and incident response for AI systems.",
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(rules_cli.app, name="rules")
app.add_typer(incidents_cli.app, name="incidents")
app.add_typer(runbooks_cli.app, name="runbooks")
app.add_typer(snoozes_cli.app, name="snoozes")
app.add_typer(keys_cli.app, name="keys")
app.add_typer(search_cli.app, name="opensearch")
app.command("share")(sharing_cli.share)
evidence_cli.register(app)  # replay, export, verify-bundle
retention_cli.register(app)  # archive
events_cli.register(app)  # events, search
app.command("ship")(ship_cli.ship_command)
app.command("witness")(witness_cli.witness)

console = Console(soft_wrap=True)  # hashes must stay on one line, whatever the width
err = Console(stderr=True, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"custody {version('custody')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("custody (not installed)")
        raise typer.Exit()


@app.callback()
def main_options(
    url: Annotated[
        str | None, typer.Option(envvar="CUSTODY_URL", help="server URL (client commands)")
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="CUSTODY_TOKEN", help="API token (client commands)")
    ] = None,
    output: Annotated[
        OutputFormat,
        typer.Option(envvar="CUSTODY_OUTPUT", help="how commands print data"),
    ] = OutputFormat.table,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version"),
    ] = False,
) -> None:
    """Custody: tamper-evident audit log and incident response for AI systems."""
    GLOBALS.url, GLOBALS.token, GLOBALS.output = url, token, output
    # Logs (a migration on first use, warnings) go to stderr: stdout is for data.
    settings = Settings.model_construct()
    configure_logging(fmt=os.environ.get("CUSTODY_LOG_FORMAT", settings.log_format),
                      level=os.environ.get("CUSTODY_LOG_LEVEL", settings.log_level))  # fmt: skip


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
    host: Annotated[
        str, typer.Option(envvar="CUSTODY_HOST", help="interface to bind", show_default=True)
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(envvar="CUSTODY_PORT", help="port to listen on", show_default=True)
    ] = 8000,
) -> None:
    """Run the API (and, on the embedded SQLite default, the background workers).

    Reads CUSTODY_DATABASE_URL (default: custody.db in CUSTODY_HOME), CUSTODY_HOME,
    CUSTODY_RULES_DIR, CUSTODY_RUNBOOKS_DIR, CUSTODY_SIGNING_KEY_PATH, CUSTODY_RUN_BACKGROUND,
    CUSTODY_LOG_FORMAT, CUSTODY_LOG_LEVEL; see the README for every variable."""
    import uvicorn

    from service.app import create_app

    settings = Settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    ensure_migrated(settings)
    application = create_app(settings)
    _announce(application, settings, host, port)
    uvicorn.run(application, host=host, port=port, log_config=None, access_log=False)


def _announce(application: Any, settings: Settings, host: str, port: int) -> None:
    """What an operator needs to know at start-up, on stderr (stdout is for data)."""
    shown = f"[{host}]" if ":" in host else host
    err.print(f"Custody listening on http://{shown}:{port} (docs at /docs)", highlight=False)
    err.print(f"  database  {_safe_url(settings.database_url)}", highlight=False)
    err.print(f"  rules     {_rules_summary(settings.rules_dir)}", highlight=False)
    err.print(f"  runbooks  {_runbooks_summary(settings.runbooks_dir)}", highlight=False)
    err.print(f"  signing key {settings.signing_key_path}", highlight=False)


def _rules_summary(directory: Path) -> str:
    from service.rules.loader import load_rules

    if not directory.is_dir():
        return f"NONE: {directory} is not a directory (no incidents will open)"
    rules, errors = load_rules(directory=directory)
    failed = f", {len(errors)} files refused (custody rules check)" if errors else ""
    return f"{len(rules)} loaded from {directory}{failed}"


def _runbooks_summary(directory: Path) -> str:
    from service.runbooks.loader import load_dir

    if not directory.is_dir():
        return f"NONE: {directory} is not a directory"
    templates, problems = load_dir(directory)
    failed = f", {len(problems)} refused (custody runbooks check)" if problems else ""
    return f"{len(templates)} loaded from {directory}{failed}"


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
        if report.archived_through:
            console.print(
                f"seqs 1..{report.archived_through} are archived: `custody replay --archive "
                "DIR` verifies them from their bundles"
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
