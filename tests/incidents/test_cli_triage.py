"""The responder CLI against a live server: triage with the API's semantics (ETags sent
for the user, conflicts explained), machine-readable output, errors as one line."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.auth.schemas import Scope
from service.cli import app as cli
from tests.incidents.conftest import ingest, open_incident


def _run(env: dict[str, str], *args: str) -> Any:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert "Traceback" not in result.output, result.output
    return result


def _env(server: str, token: str) -> dict[str, str]:
    # The server runs in this process: its request logs would land in the CLI's stderr.
    return {
        "CUSTODY_URL": server,
        "CUSTODY_TOKEN": token,
        "COLUMNS": "80",
        "CUSTODY_LOG_LEVEL": "ERROR",
    }


def test_triage_from_the_cli(client: TestClient, server: str, make_token: Any) -> None:
    seqs = ingest(client, 3)
    inc = open_incident(client, title="Weights pulled at 3am", runbook_id="generic-ai-incident",
                        evidence=seqs[:1])  # fmt: skip
    env = _env(server, make_token(Scope.respond))

    acked = _run(env, "--output", "json", "incidents", "ack", inc["id"], "--assign", "alice")
    assert acked.exit_code == 0, acked.output
    body = json.loads(acked.output)
    api = client.get(f"/v1/incidents/{inc['id']}").json()
    assert body["status"] == "acknowledged" and body["assignee"] == "alice"
    assert set(body) == set(api) - {"entities", "related"} | set(body)  # the API's names
    assert body["version"] == api["version"]

    commented = _run(env, "incidents", "comment", inc["id"], "Paged the model owner")
    assert commented.exit_code == 0, commented.output
    attached = _run(env, "incidents", "evidence", inc["id"], str(seqs[1]), str(seqs[2]))
    assert attached.exit_code == 0, attached.output
    assert "Attached 2 events" in attached.output and "now holds 3 events" in attached.output

    runbook = _run(env, "incidents", "runbook", inc["id"], "--output", "json")
    steps = [s for p in json.loads(runbook.output)["phases"] for s in p["steps"]]
    required = [s["id"] for s in steps if s["required"]]
    assert len(required) > 1

    # Resolving with required steps open is the API's 409: one line naming the steps.
    blocked = _run(env, "incidents", "resolve", inc["id"])
    assert blocked.exit_code == 4, blocked.output
    assert required[0] in blocked.output and len(blocked.output.strip().splitlines()) == 1

    for step in steps:
        args = ["incidents", "step", inc["id"], step["id"], "done", "--note", "checked"]
        done = _run(env, *args)
        assert done.exit_code == 0, done.output
    resolved = _run(env, "incidents", "resolve", inc["id"], "-m", "keys rotated")
    assert resolved.exit_code == 0, resolved.output
    assert f"{inc['id']} is resolved, alice" in resolved.output

    after = client.get(f"/v1/incidents/{inc['id']}").json()
    assert after["status"] == "resolved" and after["event_count"] == 3
    timeline = client.get(f"/v1/incidents/{inc['id']}/timeline").json()["items"]
    bodies = [e["body"] for e in timeline if e["kind"] == "comment"]
    assert bodies == ["Paged the model owner", "keys rotated"]

    # An illegal transition is explained with the allowed next states, nothing changes.
    illegal = _run(env, "incidents", "status", inc["id"], "contained")
    assert illegal.exit_code == 4 and "closed" in illegal.output
    assert client.get(f"/v1/incidents/{inc['id']}").json()["version"] == after["version"]


def test_stale_version_is_refused_and_explained(
    client: TestClient, server: str, make_token: Any
) -> None:
    inc = open_incident(client)
    env = _env(server, make_token(Scope.respond))
    assert _run(env, "incidents", "assign", inc["id"], "bob").exit_code == 0

    stale = _run(env, "incidents", "ack", inc["id"], "--if-version", "1")
    assert stale.exit_code == 4
    assert "changed since version 1" in stale.output and "bob" in stale.output
    now = client.get(f"/v1/incidents/{inc['id']}").json()
    assert now["status"] == "open" and now["version"] == 2

    unassigned = _run(env, "incidents", "assign", inc["id"], "-", "--if-version", "2")
    assert unassigned.exit_code == 0, unassigned.output
    assert client.get(f"/v1/incidents/{inc['id']}").json()["assignee"] is None


def test_show_reads_like_prose(client: TestClient, server: str, make_token: Any) -> None:
    inc = open_incident(client, title="Weights pulled at 3am", evidence=ingest(client, 1))
    env = _env(server, make_token(Scope.respond))
    assert _run(env, "incidents", "ack", inc["id"], "--assign", "alice").exit_code == 0

    shown = _run(env, "incidents", "show", inc["id"])
    assert shown.exit_code == 0, shown.output
    assert "{'" not in shown.output and "None" not in shown.output
    assert "status open → acknowledged" in shown.output
    assert "1 event" in shown.output and "1 events" not in shown.output
    assert " s" in shown.output.split("time to acknowledge")[1].splitlines()[0]
    assert max(len(line) for line in shown.output.splitlines()) <= 80

    as_json = json.loads(_run(env, "incidents", "show", inc["id"], "--output", "json").output)
    assert as_json["status"] == "acknowledged"
    assert [e["kind"] for e in as_json["timeline"]][:1] == ["open"]
    assert len(as_json["evidence"]) == 1 and "entities" in as_json


def test_list_fits_80_columns_keeping_key_columns(
    client: TestClient, server: str, make_token: Any
) -> None:
    title = "Bulk download of fine-tuned weights from the production registry by a new actor"
    inc = open_incident(client, title=title, assignee="someone.with.a.long.name@example.com")
    env = _env(server, make_token(Scope.read))
    listed = _run(env, "incidents", "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    row = next(line for line in lines if inc["id"] in line)
    assert "high" in row and "open" in row and "Bulk download" in row

    ndjson = _run(env, "incidents", "list", "--output", "ndjson").output.splitlines()
    assert [json.loads(line)["id"] for line in ndjson] == [inc["id"]]
    recent = _run(env, "--output", "json", "incidents", "list", "--since", "1h").output
    assert [i["id"] for i in json.loads(recent)["items"]] == [inc["id"]]
    older = _run(env, "--output", "json", "incidents", "list", "--until", "now-1d").output
    assert json.loads(older)["items"] == []


def test_events_and_search_with_relative_times(
    client: TestClient, server: str, make_token: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    recent = (now - timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    old = (now - timedelta(days=10)).isoformat().replace("+00:00", "Z")
    ingest(client, 2, time=recent, action="model.weights.download")
    ingest(client, 1, time=old, action="model.weights.download")
    env = _env(server, make_token(Scope.read))

    day = _run(env, "events", "--since", "24h", "--action", "model.*", "--output", "ndjson")
    assert day.exit_code == 0, day.output
    assert [json.loads(x)["time"] for x in day.output.splitlines()] == [recent, recent]
    week = _run(env, "events", "--since", "now-30d", "--until", "now-7d", "--output", "json")
    assert [e["time"] for e in json.loads(week.output)["items"]] == [old]
    table = _run(env, "events", "--since", "yesterday", "--action", "model.*")
    assert table.exit_code == 0 and "2 events" in table.output

    bad = _run(env, "events", "--since", "last tuesday")
    assert bad.exit_code == 2 and "--since" in bad.output

    found = _run(env, "search", "weights", "--since", "now-1d", "--output", "json")
    assert found.exit_code == 0, found.output
    # The first search is logged as audit.read with its query; it is not found again...
    again = _run(env, "search", "weights", "--output", "json")
    assert [e["action"] for e in json.loads(again.output)["items"]] == [
        "model.weights.download"
    ] * 3
    # ...unless asked for.
    echo = _run(env, "search", "weights", "--include-audit", "--output", "json")
    actions = [e["action"] for e in json.loads(echo.output)["items"]]
    assert actions.count("audit.read") == 3  # the two searches before, and this one
    assert len(json.loads(found.output)["items"]) == 2
