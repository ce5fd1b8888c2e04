"""`custody rules check|import|test|backtest`: server-side commands (rules dir,
CUSTODY_DATABASE_URL)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from service.client.terminal import OutputFormat, emit
from service.client.times import HELP as TIME_HELP
from service.client.times import time_param
from service.config import Settings
from service.rules.schemas import WouldOpen

if TYPE_CHECKING:
    from service.rules.importer import Report

app = typer.Typer(no_args_is_help=True, help="Correlation rules: validate, import, test, backtest.")
console = Console()
err = Console(stderr=True)

DirArg = Annotated[
    Path | None, typer.Argument(help="rules directory (default: CUSTODY_RULES_DIR or ./rules)")
]


def _time(value: str | None, option: str) -> datetime | None:
    text = time_param(value, option)
    return None if text is None else datetime.fromisoformat(text)


@app.command("check")
def check(directory: DirArg = None) -> None:
    """Load every rule file; list each one that does not load, with its file, field and
    reason (unsupported logsource, field, modifier..., or invalid), and counts."""
    from service.rules.importer import examine

    directory = directory or Settings().rules_dir
    if not directory.is_dir():
        raise typer.BadParameter(f"{directory} is not a directory", param_hint="DIRECTORY")
    report = examine(directory=directory, pack=None)
    _print_rejected(report)
    if report.errors:
        raise typer.Exit(1)
    firing = sum(r.emits for r in report.rules)
    console.print(
        f"[green]OK[/green] {len(report.rules)} rules ({firing} firing) in {report.files} files"
    )


@app.command("import")
def import_(
    source: Annotated[Path, typer.Argument(help="directory of Sigma rules (e.g. SigmaHQ's)")],
    into: Annotated[
        Path | None, typer.Option(help="rules directory (default: CUSTODY_RULES_DIR)")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="folder under <rules>/imported/ (default: source's name)")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report only, copy nothing")] = False,
) -> None:
    """Import every rule of SOURCE that loads next to the pack, unmodified, into
    <rules>/imported/NAME/; list each one that does not, with the reason, and counts.
    Deploy with POST /v1/rules/reload (or a restart)."""
    from service.rules.importer import import_rules

    pack = into or Settings().rules_dir
    folder = name or source.resolve().name
    if not source.is_dir():
        raise typer.BadParameter(f"{source} is not a directory", param_hint="SOURCE")
    if not folder or "/" in folder or folder.startswith("."):
        raise typer.BadParameter("must be a plain folder name", param_hint="--name")
    report = import_rules(source=source, pack=pack, name=folder, dry_run=dry_run)
    _print_rejected(report)
    verb = "would import" if dry_run else "imported"
    console.print(
        f"[green]{verb}[/green] {len(report.rules)} rules from {len(report.loaded_files)} files "
        f"into {pack / 'imported' / folder} ({len(report.copied)} new or changed, "
        f"{len(report.unchanged)} unchanged, {len(report.removed)} removed)"
    )


def _print_rejected(report: Report) -> None:
    from service.rules.importer import REASONS, reason

    for error in report.errors:
        kind = reason(error)
        label = "[red]ERROR[/red]" if kind == "invalid" else "[yellow]SKIPPED[/yellow]"
        err.print(f"{label} ({REASONS.get(kind, kind)}) {error}")
    counts = report.counts()
    if counts:
        listed = ", ".join(f"{REASONS[k]}: {counts[k]}" for k in REASONS if counts.get(k))
        err.print(
            f"{len(report.rejected_files)} of {report.files} files not loaded ({listed}); "
            f"{len(report.rules)} rules loaded"
        )


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
    since: Annotated[str | None, typer.Option(help=f"event time >= since: {TIME_HELP}")] = None,
    until: Annotated[str | None, typer.Option(help=f"event time < until: {TIME_HELP}")] = None,
    from_seq: Annotated[int | None, typer.Option("--from-seq", min=1)] = None,
    to_seq: Annotated[int | None, typer.Option("--to-seq", min=1)] = None,
    rules: Annotated[
        Path | None, typer.Option("--rules", help="rules directory or one rule file")
    ] = None,
    incident: Annotated[
        str | None,
        typer.Option(help="INC-N: its own window (first seen - 1h .. last seen + 1s)"),
    ] = None,
    output: Annotated[
        OutputFormat | None, typer.Option("--output", help="table, json or ndjson")
    ] = None,
) -> None:
    """Run rules over a past range of CUSTODY_DATABASE_URL; prints the incidents that
    would have opened. Read-only: the transaction is rolled back."""
    from service.db import database
    from service.rules.backtest import run_backtest
    from service.rules.eventtime import EventTimePolicy
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
                policy=EventTimePolicy.from_settings(settings),
            )
        finally:
            session.rollback()
    seconds = time.perf_counter() - began
    incidents = [
        WouldOpen(
            rule_id=f.rule_id, rule_hash=f.rule_hash, title=f.title, severity=str(f.severity),
            tags=list(f.tags), runbook_id=f.runbook, group=dict(f.group), dedup_key=f.dedup_key,
            evidence_seqs=list(f.evidence), event_count=len(f.evidence),
            first_seen=f.first_seen, last_seen=f.last_seen,
        ).model_dump(mode="json")
        for f in result.incidents
    ]  # fmt: skip
    data = {"incidents": incidents, "events": result.events, "firings": result.firings,
            "first_seq": result.first_seq, "last_seq": result.last_seq,
            "truncated": result.truncated, "seconds": round(seconds, 3)}  # fmt: skip

    def table() -> None:
        from service.client.terminal import console, plural, short_when
        from service.incidents.cli import KEY, fitted_table

        rows = []
        for item in incidents:
            seqs = ", ".join(str(s) for s in item["evidence_seqs"][:8])
            more = item["event_count"] - 8
            rows.append([
                item["title"], item["severity"],
                ", ".join(f"{k}={v}" for k, v in item["group"].items()) or "-",
                str(item["event_count"]), short_when(item["first_seen"]),
                short_when(item["last_seen"]), seqs + (f" (+{more})" if more > 0 else ""),
            ])  # fmt: skip
        # The group values are what a backtest is read for: they are never cut.
        columns = [("rule", {"ratio": 2, "min": 10}), ("sev", KEY), ("group", KEY),
                   ("events", {"key": True, "justify": "right"}), ("first", KEY),
                   ("last", KEY), ("evidence", {"min": 6})]  # fmt: skip
        out = console()
        out.print(f"Incidents that would have opened: {len(incidents)}")
        if rows:
            out.print(fitted_table(columns, rows))
        rate = result.events / seconds if seconds else 0.0
        out.print(
            f"{plural(result.events, 'event')} (seq {result.first_seq}..{result.last_seq}), "
            f"{plural(result.firings, 'firing')}, {seconds:.2f} s ({rate:,.0f} events/s)"
            + (" [yellow]truncated: narrow the range[/yellow]" if result.truncated else "")
        )

    emit(data, table, fmt=output)


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
