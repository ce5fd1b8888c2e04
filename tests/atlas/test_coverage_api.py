"""`GET /v1/rules/coverage` and `custody rules coverage`: the layer a user opens in the
ATLAS Navigator, scored by rules or by live firings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.cli import app as cli
from service.db import session_scope
from service.rules.models import RuleStats
from tests.conftest import REPO


def test_coverage_route_scores_by_rules_and_by_firings(client: TestClient, sessions: Any) -> None:
    by_rules = client.get("/v1/rules/coverage")
    assert by_rules.status_code == 200, by_rules.text
    layer = by_rules.json()
    assert layer["domain"] == "atlas-atlas" and layer["techniques"]
    cell = next(t for t in layer["techniques"] if t["techniqueID"] == "AML.T0029")
    assert cell["score"] == 1 and "model_mass_deletion" in cell["comment"]

    rule_id = next(m for m in cell["metadata"] if m["name"] == "rule")["value"]
    assert rule_id == "model_mass_deletion"
    registry_rule = next(
        r
        for r in client.app.state.rules.current().rules
        if r.name == "model_mass_deletion"  # type: ignore[attr-defined]
    )
    with session_scope(sessions) as session:
        session.add(
            RuleStats(rule_id=registry_rule.id, events_matched=9, firings=3, incidents_opened=1)
        )
    fired = client.get("/v1/rules/coverage", params={"score_by": "firings"}).json()
    cells = {t["techniqueID"]: t["score"] for t in fired["techniques"]}
    assert cells["AML.T0029"] == 3 and cells["AML.T0040"] == 0
    assert client.get("/v1/rules/coverage", params={"score_by": "nope"}).status_code == 422


def test_cli_writes_a_layer_file(tmp_path: Path) -> None:
    out = tmp_path / "layer.json"
    result = CliRunner().invoke(cli, ["rules", "coverage", str(REPO / "rules"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    layer = orjson.loads(out.read_bytes())
    assert layer["versions"]["layer"] == "4.5"
    assert {t["techniqueID"] for t in layer["techniques"]} >= {
        "AML.T0040",
        "AML.T0051",
        "AML.T0020",
    }
