"""`custody rules check|test|backtest`: server-side commands (rules dir, CUSTODY_DATABASE_URL)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

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


@app.command("backtest")
def backtest(
    since: Annotated[str | None, typer.Option(help="event time >= since (RFC 3339)")] = None,
    until: Annotated[str | None, typer.Option(help="event time < until (RFC 3339)")] = None,
    from_seq: Annotated[int | None, typer.Option("--from-seq", min=1)] = None,
    to_seq: Annotated[int | None, typer.Option("--to-seq", min=1)] = None,
    rules: Annotated[Path | None, typer.Option("--rules", help="rules directory")] = None,
) -> None:
    """Run rules over a past range of CUSTODY_DATABASE_URL; prints the incidents that
    would have opened. Read-only: the transaction is rolled back."""
    from service.db import database
    from service.rules.backtest import run_backtest
    from service.rules.eventtime import EventTimePolicy
    from service.rules.loader import load_rules

    settings = Settings()
    loaded, errors = load_rules(directory=rules or settings.rules_dir)
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
                policy=EventTimePolicy.from_settings(settings),
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


@app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="print the JSON of the API")] = False,
) -> None:
    """Engine cursor and lag, event time per source (watermark, late, skewed, idle),
    late events per rule, warm-up and last error, from CUSTODY_DATABASE_URL."""
    from service.db import database
    from service.rules.eventtime import EventTimePolicy
    from service.rules.ruleset import load_rule_set
    from service.rules.status import rules_status

    settings = Settings()
    rule_set = load_rule_set(directory=settings.rules_dir) if settings.rules_dir.is_dir() else None
    with database(settings.database_url) as factory, factory() as session:
        out = rules_status(
            session=session, policy=EventTimePolicy.from_settings(settings), rule_set=rule_set
        )
    if as_json:
        typer.echo(out.model_dump_json(indent=2))
        return
    console.print(
        f"cursor {out.cursor} / head {out.head}: lag {out.lag_events} events, "
        f"{out.lag_seconds:.1f} s; late {out.late}, clock_skew {out.clock_skew}"
    )
    console.print(f"warm-up: {out.warmup or 'not started'}")
    if out.last_error:
        err.print(f"[red]last error[/red] {out.last_error_at}: {out.last_error}")
    table = Table(title="Sources (event time)")
    for column in ("source", "state", "watermark", "last arrival", "lateness s", "events",
                   "late", "skewed"):  # fmt: skip
        table.add_column(column)
    for s in out.sources:
        table.add_row(
            s.source,
            s.state if s.state == "active" else f"[yellow]{s.state}[/yellow]",
            s.watermark.isoformat() if s.watermark else "-",
            s.last_arrival.isoformat() if s.last_arrival else "-",
            f"{s.lateness_seconds:g}",
            str(s.events),
            f"[red]{s.late}[/red]" if s.late else "0",
            f"[yellow]{s.skewed}[/yellow]" if s.skewed else "0",
        )
    console.print(table)
    if out.late_by_rule:
        late = Table(title="Late events per rule")
        for column in ("source", "rule", "late"):
            late.add_column(column)
        for item in out.late_by_rule:
            late.add_row(item.source, item.rule or item.rule_id, str(item.count))
        console.print(late)


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
