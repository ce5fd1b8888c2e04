"""SigmaHQ rules end to end: `custody rules check|import` on a foreign directory, and an
imported rule running next to the shipped pack on the live runner (SQLite, PostgreSQL)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.cli import app
from service.rules import load_rules
from service.rules.ruleset import RuleRegistry
from tests.client.test_ship import run as ship_run
from tests.rules import live, sigmahq
from tests.rules.sigmahq import BACKDOOR_KEYS, GUARDRAIL_DELETED, SIGMA

cli = CliRunner()


def _rule(rid: str, logsource: str, detection: str, status: str = "test") -> str:
    return (
        f"title: rule {rid[-2:]}\nid: {rid}\nstatus: {status}\nlevel: low\n"
        f"logsource: {logsource}\ndetection:\n{detection}\n"
    )


def foreign(directory: Path) -> Path:
    """A foreign rules tree: the 3 real SigmaHQ rules and one of each kind Custody skips."""
    shutil.copytree(SIGMA, directory / "cloud" / "aws")
    bad = {
        "windows.yml": _rule(
            "3b1b7bd6-1f0c-4a52-9d36-3c0f5a9e4b11",
            "{product: windows, category: process_creation}",
            "  sel: {Image|endswith: '\\\\notepad.exe'}\n  condition: sel",
        ),
        "signin.yml": _rule(
            "3b1b7bd6-1f0c-4a52-9d36-3c0f5a9e4b12",
            "{product: azure, service: signinlogs}",
            "  sel: {ResultType: 50126}\n  condition: sel",
        ),
        "deprecated.yml": _rule(
            "3b1b7bd6-1f0c-4a52-9d36-3c0f5a9e4b13",
            "{product: aws, service: cloudtrail}",
            "  sel: {eventName: StopLogging}\n  condition: sel",
            status="deprecated",
        ),
        "modifier.yml": _rule(
            "3b1b7bd6-1f0c-4a52-9d36-3c0f5a9e4b14",
            "{product: aws, service: cloudtrail}",
            "  sel: {eventTime|hour: 3}\n  condition: sel",
        ),
        "keyword.yml": _rule(
            "3b1b7bd6-1f0c-4a52-9d36-3c0f5a9e4b15",
            "{product: aws, service: cloudtrail}",
            "  kw: [AccessDenied]\n  condition: kw",
        ),
        "broken.yml": "title: [unclosed\n",
        # Sigma 1 rule collections: a global `action` document shared by the ones after it.
        "collection.yml": "action: global\ntitle: t\nlevel: low\n---\n"
        + _rule(
            "3b1b7bd6-1f0c-4a52-9d36-3c0f5a9e4b16",
            "{product: aws, service: cloudtrail}",
            "  sel: {eventName: StopLogging}\n  condition: sel",
        ),
    }
    # A checkout's CI workflows are YAML but not rules: never read.
    live.write_rules(directory / ".github" / "workflows", {"ci.yml": "on: [push]\n"})
    return live.write_rules(directory / "misc", bad).parent


def test_check_foreign_directory_lists_each_rule_not_loaded_with_reason_and_counts(
    tmp_path: Path,
) -> None:
    source = foreign(tmp_path / "sigma")
    result = cli.invoke(app, ["rules", "check", str(source)], env={"COLUMNS": "400"})
    assert result.exit_code == 1
    out = result.output
    for name, reason in [
        ("windows.yml", "(unsupported logsource)"),
        ("signin.yml", "(unsupported logsource)"),
        ("deprecated.yml", "(deprecated)"),
        ("modifier.yml", "(unsupported modifier or value)"),
        ("keyword.yml", "(keyword search (no field))"),
        ("broken.yml", "(invalid rule)"),
        ("collection.yml", "(collection action or filter document)"),
    ]:
        (line,) = [line for line in out.splitlines() if name in line]
        assert reason in line, line
    assert "no adapter for Azure / Entra ID sign-in logs" in out
    assert (
        "7 of 10 files not loaded (unsupported logsource: 2, unsupported modifier or value: 1, "
        "keyword search (no field): 1, collection action or filter document: 1, deprecated: 1, "
        "invalid rule: 1); 3 rules loaded"
    ) in " ".join(out.split())


def test_import_copies_loadable_rules_unmodified_and_keeps_the_pack_loading(
    tmp_path: Path,
) -> None:
    source = foreign(tmp_path / "sigma")
    pack = tmp_path / "pack"
    shutil.copytree(live.REPO / "rules", pack)
    before, _ = load_rules(directory=pack)
    args = ["rules", "import", str(source), "--into", str(pack), "--name", "sigmahq"]
    result = cli.invoke(app, args, env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "imported 3 rules from 3 files" in " ".join(result.output.split())
    target = pack / "imported" / "sigmahq"
    for original in SIGMA.glob("*.yml"):
        copied = target / "cloud" / "aws" / original.name
        assert copied.read_bytes() == original.read_bytes()
    assert "Detection Rule License" in (target / "IMPORT.md").read_text()
    after, errors = load_rules(directory=pack)
    assert not errors, [str(e) for e in errors]
    assert len(after) == len(before) + 3

    # Upstream deprecates one rule: a re-import drops it and leaves the others alone.
    backdoor = source / "cloud" / "aws" / "aws_iam_backdoor_users_keys.yml"
    backdoor.write_text(backdoor.read_text().replace("status: test", "status: deprecated"))
    again = cli.invoke(app, args, env={"COLUMNS": "400"})
    assert again.exit_code == 0, again.output
    assert "(0 new or changed, 2 unchanged, 1 removed)" in " ".join(again.output.split())
    assert not (target / "cloud" / "aws" / backdoor.name).exists()
    ids = {r.id for r in load_rules(directory=pack)[0]}
    assert GUARDRAIL_DELETED in ids and BACKDOOR_KEYS not in ids


def test_import_skips_a_rule_whose_id_the_pack_already_has(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    shutil.copy(SIGMA / "aws_cloudtrail_bedrock_guardrail_deleted.yml", pack / "mine.yml")
    args = ["rules", "import", str(SIGMA), "--into", str(pack), "--name", "sigmahq"]
    result = cli.invoke(app, args, env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert f"duplicate rule id '{GUARDRAIL_DELETED}'" in out
    assert "imported 2 rules from 2 files" in out


def test_sigmahq_rule_next_to_shipped_pack_on_live_runner(
    client: TestClient, sessions: Any, tmp_path: Path
) -> None:
    """CloudTrail over HTTP through the adapter; the imported SigmaHQ rule and the shipped
    guardrail rule (Custody paths) each open their incident on the same event."""
    pack = tmp_path / "pack"
    shutil.copytree(live.REPO / "rules", pack)
    args = ["rules", "import", str(SIGMA), "--into", str(pack), "--name", "sigmahq"]
    assert cli.invoke(app, args).exit_code == 0
    records = [
        sigmahq.bedrock_invoke(),
        sigmahq.bedrock_call("DeleteGuardrail", 300, guardrailIdentifier="gr-prod"),
    ]
    response = client.post("/v1/events", json={"Records": records})
    assert response.status_code == 200, response.text
    deletion_seq = response.json()["last_seq"]
    live.drain(live.runner(pack), sessions)

    opened = [i for i in client.get("/v1/incidents").json()["items"] if i["rule_id"]]
    titles = {i["rule_id"]: i["title"] for i in opened}
    shipped = next(r for r in load_rules(directory=pack)[0] if r.name == "guardrail_deleted")
    assert set(titles) == {GUARDRAIL_DELETED, shipped.id}
    assert titles[GUARDRAIL_DELETED] == "AWS Bedrock Guardrail Deleted"
    sigma_incident = next(i for i in opened if i["rule_id"] == GUARDRAIL_DELETED)
    assert sigma_incident["severity"] == "medium"
    evidence = client.get(f"/v1/incidents/{sigma_incident['id']}/events").json()["items"]
    assert [e["seq"] for e in evidence] == [deletion_seq]


def test_rules_api_lists_sigmahq_rules_and_says_why_others_did_not_load(
    client: TestClient, app: Any, tmp_path: Path
) -> None:
    source = foreign(tmp_path / "sigma")
    app.state.rules = RuleRegistry(source)
    page = client.get("/v1/rules").json()
    assert {r["id"]: r["vendor_source"] for r in page["items"]} == {
        GUARDRAIL_DELETED: "aws.cloudtrail",
        BACKDOOR_KEYS: "aws.cloudtrail",
        "1c722651-254a-4b04-a9f4-99b62a2d0a1f": "aws.cloudtrail",
    }
    reasons = {e["file"]: e["unsupported"] for e in page["errors"]}
    assert reasons == {
        "misc/windows.yml": "logsource",
        "misc/signin.yml": "logsource",
        "misc/deprecated.yml": "deprecated",
        "misc/modifier.yml": "modifier",
        "misc/keyword.yml": "keyword",
        "misc/broken.yml": None,
        "misc/collection.yml": "document",
    }


def test_import_refuses_bad_input_and_changes_nothing(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    bad_name = ["rules", "import", str(SIGMA), "--into", str(pack), "--name", "../escape"]
    result = cli.invoke(app, bad_name, env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "--name" in result.output
    missing = ["rules", "import", str(tmp_path / "nope"), "--into", str(pack)]
    result = cli.invoke(app, missing, env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "is not a directory" in result.output
    assert not pack.exists() and not (tmp_path / "escape").exists()


def test_custody_ship_of_a_real_detonation_opens_the_sigmahq_incident(
    client: TestClient, sessions: Any, tmp_path: Path
) -> None:
    """`custody ship` (normalizing on the client) of the real Stratus IAM detonation file:
    the imported SigmaHQ backdoor-keys rule opens one incident on the CreateAccessKey."""
    pack = tmp_path / "pack"
    shutil.copytree(live.REPO / "rules", pack)
    args = ["rules", "import", str(SIGMA), "--into", str(pack), "--name", "sigmahq"]
    assert cli.invoke(app, args).exit_code == 0
    trail = sigmahq.REAL / "stratus" / "aws.persistence.iam-create-admin-user.json"
    result, _ = ship_run(client, [str(trail)])
    assert result.accepted == 3
    live.drain(live.runner(pack), sessions)
    opened = [i for i in client.get("/v1/incidents").json()["items"] if i["rule_id"]]
    (incident,) = [i for i in opened if i["rule_id"] == BACKDOOR_KEYS]
    (evidence,) = client.get(f"/v1/incidents/{incident['id']}/events").json()["items"]
    assert evidence["attributes"]["event_name"] == "CreateAccessKey"
    assert evidence["source"] == "aws.cloudtrail"
