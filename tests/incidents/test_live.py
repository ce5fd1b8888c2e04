"""Against a live uvicorn server: racing PATCHes and the responder CLI."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.auth.schemas import Scope
from service.cli import app as cli
from tests.incidents.conftest import ingest, open_incident


def test_concurrent_patches_with_one_etag(client: TestClient, server: str, make_token: Any) -> None:
    inc = open_incident(client)
    token = make_token(Scope.respond)
    barrier = threading.Barrier(6)
    results: list[int] = []

    def attempt(n: int) -> None:
        with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {token}"}) as c:
            barrier.wait()
            r = c.patch(
                f"/v1/incidents/{inc['id']}",
                json={"assignee": f"responder-{n}"},
                headers={"If-Match": '"1"'},
                timeout=30,
            )
            results.append(r.status_code)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] + [412] * 5
    after = client.get(f"/v1/incidents/{inc['id']}").json()
    assert after["version"] == 2
    updates = [e for e in client.get(f"/v1/incidents/{inc['id']}/timeline").json()["items"]
               if e["kind"] == "update"]  # fmt: skip
    assert len(updates) == 1


def test_cli_list_show_report(
    client: TestClient, server: str, make_token: Any, tmp_path: Path
) -> None:
    seqs = ingest(client, 2)
    inc = open_incident(client, title="Weights pulled at 3am", evidence=seqs, assignee="bob")
    open_incident(client, title="Other thing", severity="low")
    client.post(f"/v1/incidents/{inc['id']}/comments", json={"body": "Paged the owner"})
    env = {"CUSTODY_URL": server, "CUSTODY_TOKEN": make_token(Scope.read), "COLUMNS": "200"}
    runner = CliRunner()

    listed = runner.invoke(cli, ["incidents", "list", "--status", "open", "--severity", "high"],
                           env=env)  # fmt: skip
    assert listed.exit_code == 0, listed.output
    assert "INC-1" in listed.output and "Weights pulled at 3am" in listed.output
    assert "INC-2" not in listed.output

    shown = runner.invoke(cli, ["incidents", "show", "INC-1"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "Paged the owner" in shown.output and str(seqs[0]) in shown.output

    out = tmp_path / "INC-1-report.md"
    reported = runner.invoke(cli, ["incidents", "report", "INC-1", "-o", str(out)], env=env)
    assert reported.exit_code == 0, reported.output
    assert out.read_text().startswith("# INC-1: Weights pulled at 3am")

    missing = runner.invoke(cli, ["incidents", "show", "INC-9"], env=env)
    assert missing.exit_code == 1 and "404" in missing.output

    rendered = runner.invoke(
        cli, ["runbooks", "render", "model-exfiltration", "--incident", "INC-1", "--raw"], env=env
    )
    assert rendered.exit_code == 0, rendered.output
    assert "INC-1" in rendered.output and "Weights pulled at 3am" not in rendered.output[:0]
