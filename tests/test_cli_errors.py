"""Every CLI failure is one line and a documented exit code, never a traceback; help
screens are clean."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from service.cli import app as cli


def _run(*args: str, **env: str) -> Any:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "80", **env})
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def _one_line(result: Any) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_revoking_an_unknown_token(db_url: str) -> None:
    result = _run("token", "revoke", "tok_nope", CUSTODY_DATABASE_URL=db_url)
    assert result.exit_code == 1
    assert "no token tok_nope" in _one_line(result)


def test_a_missing_postgres_database(pg_url: str) -> None:
    missing = make_url(pg_url).set(database=f"custody_missing_{uuid.uuid4().hex[:8]}")
    url = missing.render_as_string(hide_password=False)
    result = _run("token", "list", CUSTODY_DATABASE_URL=url)
    assert result.exit_code == 2
    line = _one_line(result)
    assert "does not exist" in line and str(missing.database) in line


def test_postgres_scheme_urls_work(pg_url: str) -> None:
    plain = make_url(pg_url).set(drivername="postgres").render_as_string(hide_password=False)
    assert plain.startswith("postgres://")
    created = _run("token", "create", "--scope", "read", "--quiet", CUSTODY_DATABASE_URL=plain)
    assert created.exit_code == 0, created.output
    other = plain.replace("postgres://", "postgresql://", 1)
    listed = _run("--output", "json", "token", "list", CUSTODY_DATABASE_URL=other)
    assert listed.exit_code == 0, listed.output
    assert created.stdout.strip().startswith(listed.stdout.split('"prefix": "')[1].split('"')[0])


def test_quiet_token_is_one_line_on_a_fresh_database(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'fresh.db'}"
    created = _run("token", "create", "--scope", "admin", "--quiet", CUSTODY_DATABASE_URL=db,
                   CUSTODY_LOG_FORMAT="json")  # fmt: skip
    assert created.exit_code == 0, created.output
    assert len(created.stdout.splitlines()) == 1 and created.stdout.startswith("cst_")
    assert "db.migrate" in created.stderr  # the migration is logged, on stderr


def test_token_list_shows_full_ids_at_80_columns(db_url: str) -> None:
    name = "a rather long token name for the gateway"
    made = _run("--output", "json", "token", "create", "--scope", "ingest", "--name", name,
                CUSTODY_DATABASE_URL=db_url)  # fmt: skip
    token_id = __import__("json").loads(made.stdout)["id"]
    listed = _run("token", "list", CUSTODY_DATABASE_URL=db_url)
    assert token_id in listed.stdout
    assert max(len(line) for line in listed.stdout.splitlines()) <= 80
    revoked = _run("token", "revoke", token_id, CUSTODY_DATABASE_URL=db_url)
    assert revoked.exit_code == 0 and f"Revoked {token_id}" in revoked.stdout


def test_a_bad_setting_is_named() -> None:
    result = _run("token", "list", CUSTODY_RATE_LIMIT_PER_MINUTE="lots")
    assert result.exit_code == 2 and "CUSTODY_RATE_LIMIT_PER_MINUTE" in _one_line(result)


def test_client_configuration_and_reachability() -> None:
    unset = _run("incidents", "list", CUSTODY_URL="", CUSTODY_TOKEN="")
    assert unset.exit_code == 2 and "CUSTODY_URL" in _one_line(unset)
    # Nothing listens on port 9 (discard) here: the connection is refused.
    down = _run("--url", "http://127.0.0.1:9", "--token", "x", "incidents", "list")
    assert down.exit_code == 3 and "cannot reach the server" in _one_line(down)


def test_help_screens() -> None:
    root = _run("--help")
    assert "<bool>" not in root.stdout and "--version" in root.stdout
    assert "CUSTODY_URL" in root.stdout and "CUSTODY_TOKEN" in root.stdout
    serve = _run("serve", "--help")
    assert "<bool>" not in serve.stdout
    assert "CUSTODY_PORT" in serve.stdout and "8000" in serve.stdout
    assert "CUSTODY_HOST" in serve.stdout and "127.0.0.1" in serve.stdout
    triage = _run("incidents", "ack", "--help")
    assert "--if-version" in triage.stdout and "<bool>" not in triage.stdout
    version = _run("--version")
    assert version.exit_code == 0 and version.stdout.startswith("custody ")
