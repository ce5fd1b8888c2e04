"""`custody rules check|test|backtest`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.cli import app
from tests.rules import live
from tests.rules.packs import PACK, SCENARIOS

cli = CliRunner()


def test_check_shipped_pack() -> None:
    result = cli.invoke(app, ["rules", "check", str(live.REPO / "rules")])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output


def test_check_names_file_and_field(tmp_path: Path) -> None:
    directory = live.write_rules(
        tmp_path,
        {
            "good.yml": PACK["event_count.yml"],
            "typo.yml": PACK["first_seen.yml"].replace("level: low", "levle: low"),
            "int_id.yml": "title: x\nid: 7\nlevel: high\n",
        },
    )
    result = cli.invoke(app, ["rules", "check", str(directory)])
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "typo.yml" in out and "level: every rule needs a level" in out
    assert "int_id.yml" in out and "id: must be a string" in out


def test_rule_tests_pass_and_fail(tmp_path: Path) -> None:
    result = cli.invoke(app, ["rules", "test", str(live.REPO / "rules")])
    assert result.exit_code == 0, result.output
    directory = live.write_rules(tmp_path, {"event_count.yml": PACK["event_count.yml"]})
    (directory / "tests").mkdir()
    (directory / "tests" / "event_count.yml").write_text(
        "rule: denied_burst\nfire:\n  - name: two are not enough\n    events:\n"
        "      - {time: '2026-11-30T12:00:00Z', action: model.invoke, outcome: denied,"
        " actor: {id: a}}\n"
    )
    failed = cli.invoke(app, ["rules", "test", str(directory)])
    assert failed.exit_code == 1
    assert "two are not enough" in failed.output


def test_backtest_prints_would_be_incidents(
    client: TestClient, db_url: str, tmp_path: Path, monkeypatch: Any
) -> None:
    live.ingest(client, SCENARIOS["denied_burst"])
    live.ingest(client, SCENARIOS["many_models"])
    directory = live.write_rules(tmp_path / "pack", PACK)
    monkeypatch.setenv("CUSTODY_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "200")
    result = cli.invoke(
        app,
        [
            "rules", "backtest", "--rules", str(directory),
            "--since", "2026-11-30T00:00:00Z", "--until", "2026-12-01T00:00:00Z",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "would have opened: 2" in result.output and "denied_burst" in result.output
    assert "actor.id=mallory" in result.output
    assert "7 events" in result.output


def test_status_table_and_json(
    client: TestClient, sessions: Any, db_url: str, monkeypatch: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    import orjson

    now = datetime.now(UTC)
    late = [
        {"time": (now - timedelta(hours=h)).isoformat(), "source": "gw", "action": "model.invoke",
         "outcome": "denied", "actor": {"id": "mallory"}}
        for h in (0, 1)
    ]  # fmt: skip
    live.ingest(client, late)
    live.drain(live.runner(live.REPO / "rules"), sessions)
    monkeypatch.setenv("CUSTODY_DATABASE_URL", db_url)
    monkeypatch.setenv("CUSTODY_RULES_DIR", str(live.REPO / "rules"))
    monkeypatch.setenv("COLUMNS", "200")
    table = cli.invoke(app, ["rules", "status"])
    assert table.exit_code == 0, table.output
    assert "Sources (event time)" in table.output and "gw" in table.output
    assert "Burst of denied model invocations" in table.output  # late per rule, by title
    body = orjson.loads(cli.invoke(app, ["rules", "status", "--json"]).stdout)
    assert body["late"] == 1 and body["lag_events"] == 0
    assert [(s["source"], s["events"], s["late"]) for s in body["sources"]] == [("gw", 2, 1)]
