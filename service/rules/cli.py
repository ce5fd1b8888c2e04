"""`custody rules check|test|backtest`: server-side commands (rules dir, CUSTODY_DATABASE_URL)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from service.config import Settings

app = typer.Typer(no_args_is_help=True, help="Correlation rules: validate, test, backtest.")
console = Console()
err = Console(stderr=True)

DirArg = Annotated[
    Path | None, typer.Argument(help="rules directory (default: CUSTODY_RULES_DIR or ./rules)")
]


def _time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("expected an RFC 3339 time", param_hint=option) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command("check")
def check(directory: DirArg = None) -> None:
    """Load every rule file; list each rejected one with its file and field."""
    from service.rules.loader import load_rules, rule_files

    directory = directory or Settings().rules_dir
    rules, errors = load_rules(directory=directory)
    for error in errors:
        err.print(f"[red]ERROR[/red] {error}")
    files = len(rule_files(directory=directory))
    if errors:
        err.print(f"{len(errors)} error(s); {len(rules)} rules loaded from {files} files")
        raise typer.Exit(1)
    firing = sum(r.emits for r in rules)
    console.print(f"[green]OK[/green] {len(rules)} rules ({firing} firing) in {files} files")


@app.command("test")
def run_tests(directory: DirArg = None) -> None:
    """Run the test cases in DIR/tests against the rules in DIR."""
    from service.rules.testing import run_rule_tests

    directory = directory or Settings().rules_dir
    report = run_rule_tests(rules_dir=directory)
    for error in report.errors:
        err.print(f"[red]ERROR[/red] {error}")
    failed = [r for r in report.results if not r.passed]
    for result in failed:
        expected = "fire" if result.expect == "fire" else "not fire"
        err.print(
            f"[red]FAIL[/red] {result.file.name}: '{result.name}' should {expected} "
            f"({result.firings} firings)"
        )
    for rule_id in report.untested:
        console.print(f"[yellow]untested[/yellow] {rule_id}")
    passed = len(report.results) - len(failed)
    summary = f"{passed}/{len(report.results)} cases passed"
    if not report.ok:
        err.print(f"[red]FAILED[/red] {summary}")
        raise typer.Exit(1)
    console.print(f"[green]OK[/green] {summary}")


def _incident_window(settings: Settings, incident_id: str) -> tuple[str, str]:
    """The event-time window of the incident's evidence (or its first/last seen), with an
    hour before it so correlations see their start."""
    from sqlalchemy import func, select

    from service.auditlog.models import LogRecord
    from service.db import database
    from service.incidents import service as incidents
    from service.incidents.errors import IncidentNotFound
    from service.incidents.models import IncidentEvidence

    with database(settings.database_url) as factory, factory() as session:
        try:
            found = incidents.get(session=session, incident_id=incident_id)
        except IncidentNotFound as exc:
            raise typer.BadParameter(str(exc), param_hint="--incident") from None
        lo, hi = session.execute(
            select(func.min(LogRecord.time), func.max(LogRecord.time))
            .join(IncidentEvidence, IncidentEvidence.seq == LogRecord.seq)
            .where(IncidentEvidence.incident_number == found.number)
        ).one()
        first = _parse(lo) if lo else found.first_seen or found.opened_at
        last = _parse(hi) if hi else found.last_seen or found.opened_at
    return (first - timedelta(hours=1)).isoformat(), (last + timedelta(seconds=1)).isoformat()


def _parse(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


@app.command("backtest")
def backtest(
    since: Annotated[str | None, typer.Option(help="event time >= since (RFC 3339)")] = None,
    until: Annotated[str | None, typer.Option(help="event time < until (RFC 3339)")] = None,
    from_seq: Annotated[int | None, typer.Option("--from-seq", min=1)] = None,
    to_seq: Annotated[int | None, typer.Option("--to-seq", min=1)] = None,
    rules: Annotated[
        Path | None, typer.Option("--rules", help="rules directory or one rule file")
    ] = None,
    incident: Annotated[
        str | None,
        typer.Option(help="INC-N: its own window (first seen - 1h .. last seen + 1s)"),
    ] = None,
) -> None:
    """Run rules over a past range of CUSTODY_DATABASE_URL; prints the incidents that
    would have opened. Read-only: the transaction is rolled back."""
    from service.db import database
    from service.rules.backtest import run_backtest
    from service.rules.loader import load_rule_files, load_rules

    settings = Settings()
    source = rules or settings.rules_dir
    if source.is_file():
        loaded, errors = load_rule_files(paths=[source])
    else:
        loaded, errors = load_rules(directory=source)
    if incident is not None:
        if since or until or from_seq or to_seq:
            raise typer.BadParameter("--incident sets the range itself", param_hint="--incident")
        since, until = _incident_window(settings, incident)
    for error in errors:
        err.print(f"[yellow]skipped[/yellow] {error}")
    began = time.perf_counter()
    with database(settings.database_url) as factory, factory() as session:
        try:
            result = run_backtest(
                session=session,
                rules=loaded,
                since=_time(since, "--since"),
                until=_time(until, "--until"),
                from_seq=from_seq,
                to_seq=to_seq,
                lateness=timedelta(seconds=settings.rules_lateness_seconds),
            )
        finally:
            session.rollback()
    seconds = time.perf_counter() - began
    table = Table(title=f"Incidents that would have opened ({len(result.incidents)})")
    for column in ("rule", "severity", "group", "events", "first seen", "last seen", "evidence"):
        table.add_column(column)
    for firing in result.incidents:
        seqs = ", ".join(str(s) for s in firing.evidence[:8])
        more = len(firing.evidence) - 8
        table.add_row(
            firing.title,
            str(firing.severity),
            ", ".join(f"{k}={v}" for k, v in firing.group.items()),
            str(len(firing.evidence)),
            firing.first_seen.isoformat(),
            firing.last_seen.isoformat(),
            seqs + (f" (+{more})" if more > 0 else ""),
        )
    console.print(table)
    rate = result.events / seconds if seconds else 0.0
    console.print(
        f"{result.events} events (seq {result.first_seq}..{result.last_seq}), "
        f"{result.firings} firings, {seconds:.2f}s ({rate:,.0f} events/s)"
        + (" [yellow]truncated: narrow the range[/yellow]" if result.truncated else "")
    )


@app.command("coverage")
def coverage(
    directory: DirArg = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output-file", help="write the layer here")
    ] = None,
    score_by: Annotated[
        str, typer.Option(help="score techniques by `rules` or by `firings` (live counters)")
    ] = "rules",
) -> None:
    """ATLAS Navigator layer (JSON) of the techniques the rules cover; open it in the
    ATLAS Navigator. Firing counts come from CUSTODY_DATABASE_URL."""
    import orjson

    from service.atlas.service import coverage_layer
    from service.db import database
    from service.rules.loader import load_rules

    if score_by not in ("rules", "firings"):
        raise typer.BadParameter("expected rules or firings", param_hint="--score-by")
    settings = Settings()
    rules, errors = load_rules(directory=directory or settings.rules_dir)
    for error in errors:
        err.print(f"[yellow]skipped[/yellow] {error}")
    if score_by == "firings":
        with database(settings.database_url) as factory, factory() as session:
            result = coverage_layer(session=session, rules=rules, score_by="firings")
    else:
        result = coverage_layer(session=None, rules=rules, score_by="rules")
    data = orjson.dumps(result, option=orjson.OPT_INDENT_2)
    if output is None:
        typer.echo(data.decode())
        return
    output.write_bytes(data + b"\n")
    err.print(
        f"[green]OK[/green] {len(result['techniques'])} ATLAS techniques covered by "
        f"{len(rules)} rules -> {output}"
    )
