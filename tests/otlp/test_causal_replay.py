"""Causal replay of one agent run: the verified records of a trace as a tree, the CLI, and
incident bundles that carry the whole trace of their evidence. Both databases."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.auth.schemas import Scope
from service.cli import app as cli
from tests.evidence.dbhelpers import checkpoint, without_triggers
from tests.evidence.test_replay import _Borrowed
from tests.otlp.agentrun import agent_run, provider


def _run(server: str, token: str, **kwargs: Any) -> dict[str, Any]:
    tp = provider(server, token)
    ids = agent_run(tp, **kwargs)
    assert tp.force_flush(10_000)
    tp.shutdown()
    return ids


def _tree(client: TestClient, trace_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    response = client.get("/v1/replay", params={"trace_id": trace_id})
    assert response.status_code == 200, response.text
    lines = [orjson.loads(line) for line in response.text.splitlines()]
    return lines[:-1], lines[-1]["trailer"]


def test_three_level_agent_run_is_a_verified_tree(
    client: TestClient, server: str, make_token: Any
) -> None:
    token = make_token(Scope.ingest)
    ids = _run(server, token)
    other = _run(server, token, user="bob@example.com")  # another run: not in this tree
    checkpoint(client)

    nodes, trailer = _tree(client, ids["trace_id"])
    span = {ids[k]: k for k in ("root", "chat", "researcher", "fetch", "post")}
    shape = [(span[n["attributes"]["span_id"]], n["tree"]["depth"]) for n in nodes]
    # Parent before children, siblings in time order: the run as it happened.
    assert shape == [("root", 0), ("chat", 1), ("researcher", 1), ("fetch", 2), ("post", 1)]
    by_role = {span[n["attributes"]["span_id"]]: n for n in nodes}
    assert by_role["fetch"]["tree"]["parent_seq"] == by_role["researcher"]["seq"]
    assert by_role["researcher"]["tree"]["parent_seq"] == by_role["root"]["seq"]
    assert by_role["researcher"]["tree"]["agent_depth"] == 2
    assert by_role["fetch"]["tree"]["agents"] == ["agt-orch", "agt-research"]
    assert by_role["post"]["tree"]["agents"] == ["agt-orch"]
    assert all(n["verified"] for n in nodes)
    assert {n["request_id"] for n in nodes} == {ids["trace_id"]} != {other["trace_id"]}
    assert trailer["verified"] is True and trailer["count"] == 5 and trailer["anchored"] == 5
    assert trailer["tree"] == {
        "trace_id": ids["trace_id"],
        "roots": [by_role["root"]["seq"]],
        "orphans": [],
        "nodes": 5,
        "max_depth": 2,
        "max_agent_depth": 2,
    }
    assert trailer["scope"] == {"trace_id": ids["trace_id"]}


def test_tampered_or_erased_nodes(
    client: TestClient, server: str, make_token: Any, app: Any, backend: str
) -> None:
    ids = _run(server, make_token(Scope.ingest))
    nodes, _ = _tree(client, ids["trace_id"])
    seq = {n["attributes"]["span_id"]: n["seq"] for n in nodes}

    # Erasing the researcher's payload takes its span ids: its child shows as an orphan,
    # and the replay still verifies (erasure is recorded).
    erased = client.post(f"/v1/events/{seq[ids['researcher']]}/erase", json={"reason": "GDPR"})
    assert erased.status_code == 200, erased.text
    nodes, trailer = _tree(client, ids["trace_id"])
    assert trailer["verified"] is True
    fetch = next(n for n in nodes if n["seq"] == seq[ids["fetch"]])
    assert fetch["tree"]["orphan"] is True and fetch["tree"]["depth"] == 0
    assert trailer["tree"]["orphans"] == [seq[ids["fetch"]]]

    # An edited record in the run fails the trailer and is marked in place.
    target = seq[ids["post"]]
    without_triggers(
        app, backend, f"UPDATE log_records SET outcome = 'success' WHERE seq = {target}"
    )
    nodes, trailer = _tree(client, ids["trace_id"])
    assert trailer["verified"] is False and trailer["first_bad_seq"] == target
    assert [n["seq"] for n in nodes if not n["verified"]] == [target]


def test_cli_replay_trace(
    client: TestClient,
    server: str,
    make_token: Any,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = _run(server, make_token(Scope.ingest))
    monkeypatch.setattr("service.evidence.cli.api_client", lambda **_: _Borrowed(client))
    out = tmp_path / "run.ndjson"
    result = CliRunner().invoke(cli, ["replay", "--trace", ids["trace_id"], "-o", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line.get("tree", {}).get("depth") for line in lines[:-1]] == [0, 1, 1, 2, 1]
    assert lines[-1]["trailer"]["verified"] is True
    drawn = result.output
    assert f"trace {ids['trace_id']}" in drawn and "OK 5 records verified" in drawn
    # The tree: the tool call sits under the researcher, indented one level further.
    research = next(
        line
        for line in drawn.splitlines()
        if "agent:agt-research" in line and "agent.invoke" in line
    )
    fetch = next(line for line in drawn.splitlines() if "tool:fetch_url" in line)
    assert fetch.index("#") > research.index("#")
    assert "for alice@example.com" in fetch


def test_incident_bundle_carries_the_whole_trace(
    client: TestClient,
    server: str,
    make_token: Any,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = _run(server, make_token(Scope.ingest))
    nodes, _ = _tree(client, ids["trace_id"])
    post = next(n for n in nodes if n["attributes"]["span_id"] == ids["post"])
    opened = client.post(
        "/v1/incidents", json={"title": "exfil via tool", "evidence": [post["seq"]]}
    )
    assert opened.status_code == 201, opened.text
    checkpoint(client)
    incident = opened.json()["id"]
    replayed = client.get("/v1/replay", params={"incident": incident})
    seqs = {orjson.loads(line).get("seq") for line in replayed.text.splitlines()[:-1]}
    assert {n["seq"] for n in nodes} <= seqs

    bundle = client.post("/v1/exports", json={"incident": incident})
    assert bundle.status_code == 200, bundle.text
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as z:
        records = [json.loads(line) for line in z.read("records.ndjson").splitlines()]
    in_bundle = {r["record"]["seq"] for r in records}
    assert {n["seq"] for n in nodes} <= in_bundle  # the researcher's branch too

    # A bundle of the run alone (custody export --trace) verifies offline.
    monkeypatch.setattr("service.evidence.cli.api_client", lambda **_: _Borrowed(client))
    path, key = tmp_path / "run.zip", tmp_path / "pub.pem"
    exported = CliRunner().invoke(cli, ["export", "--trace", ids["trace_id"], "-o", str(path)])
    assert exported.exit_code == 0, exported.output
    key.write_bytes(client.get("/v1/log/public-key").content)
    result = CliRunner().invoke(cli, ["verify-bundle", str(path), "--public-key", str(key)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(path) as z:
        manifest = json.loads(z.read("manifest.json"))
    assert manifest["scope"] == {"trace_id": ids["trace_id"]}
    assert manifest["counts"]["records"] == 5
