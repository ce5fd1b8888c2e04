"""`custody snoozes` against a live server: create, list, show, release, bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from typer.testing import CliRunner

from service.auth.schemas import Scope
from service.cli import app as cli
from service.snoozes.cli import parse_until


def test_snooze_lifecycle_from_the_terminal(server: str, make_token: Any) -> None:
    env = {"CUSTODY_URL": server, "CUSTODY_TOKEN": make_token(Scope.respond), "COLUMNS": "200"}
    runner = CliRunner()

    made = runner.invoke(cli, ["snoozes", "create", "guardrail_deleted", "--until", "2h",
                               "--group", "resource.id=gr-staging", "--reason", "planned teardown",
                               "--json"], env=env)  # fmt: skip
    assert made.exit_code == 0, made.output
    snooze = json.loads(made.stdout)
    assert snooze["group"] == {"resource.id": "gr-staging"} and snooze["active"] is True
    assert snooze["rule_id"] == "07b2abcd-9463-4ed7-bc8d-914dcf26f852"

    listed = runner.invoke(cli, ["snoozes", "list", "--active"], env=env)
    assert listed.exit_code == 0, listed.output
    assert snooze["id"] in listed.output and "resource.id=gr-staging" in listed.output

    released = runner.invoke(
        cli, ["snoozes", "release", snooze["id"], "--reason", "teardown done", "--json"], env=env
    )
    assert released.exit_code == 0, released.output
    assert json.loads(released.stdout)["active"] is False
    shown = runner.invoke(cli, ["snoozes", "show", snooze["id"], "--json"], env=env)
    assert json.loads(shown.stdout)["released_by"]

    # Bad input: one clear line, nothing created.
    args = ["--until", "1h", "--entity", "ip:203.0.113.7", "--reason", "x y z"]
    unknown = runner.invoke(cli, ["snoozes", "create", "no_such_rule", *args], env=env)
    assert unknown.exit_code == 1 and "No deployed rule 'no_such_rule'" in unknown.output
    for bad in (["--until", "tomorrow", "--entity", "ip:1.2.3.4"],
                ["--until", "1h", "--group", "actor.id"]):  # fmt: skip
        refused = runner.invoke(cli, ["snoozes", "create", "guardrail_deleted", *bad,
                                      "--reason", "x y z"], env=env)  # fmt: skip
        assert refused.exit_code == 2, refused.output
    everything = runner.invoke(cli, ["snoozes", "list", "--json"], env=env)
    assert [s["id"] for s in json.loads(everything.stdout)] == [snooze["id"]]


def test_until_accepts_durations_and_rfc3339_with_an_offset() -> None:
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    assert parse_until("90m", now=now) == "2026-12-06T13:30:00+00:00"
    assert parse_until("7d", now=now) == "2026-12-13T12:00:00+00:00"
    assert parse_until("2026-12-07T09:00:00Z") == "2026-12-07T09:00:00+00:00"
