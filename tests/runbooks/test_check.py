"""check_dir: the gate behind `custody runbooks check`."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from service.runbooks.check import check_dir
from tests.runbooks.conftest import SHIPPED_DIR, write_runbook


def test_unknown_referenced_runbook_id_is_reported(tmp_path: Path) -> None:
    shutil.copytree(SHIPPED_DIR, tmp_path / "runbooks")
    refs = [
        ("rules/weights_download.yml", "model-exfiltration"),
        ("rules/new_actor.yml", "model-exfil"),
    ]

    problems = check_dir(tmp_path / "runbooks", refs)

    assert len(problems) == 1
    assert str(problems[0]).startswith(
        "rules/new_actor.yml: custom.runbook: unknown runbook id 'model-exfil' (known: "
    )


def test_missing_fallback_and_file_problems_are_reported(tmp_path: Path) -> None:
    write_runbook(tmp_path, "alpha")
    write_runbook(tmp_path, "broken", body="Overview only.\n")

    messages = [str(p) for p in check_dir(tmp_path)]

    assert any("fallback runbook 'generic-ai-incident' is missing" in m for m in messages)
    assert any("broken.md" in m and "no '## step: look' section" in m for m in messages)


def test_every_shipped_rule_names_a_shipped_runbook() -> None:
    """The contract with rules/: `custom.runbook` must name a runbook that exists."""
    rules_dir = SHIPPED_DIR.parent / "rules"
    refs = [
        (str(path), doc["custom"]["runbook"])
        for path in sorted(rules_dir.glob("*.yml"))
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if isinstance(doc, dict) and isinstance(doc.get("custom"), dict)
        and "runbook" in doc["custom"]
    ]  # fmt: skip

    assert check_dir(SHIPPED_DIR, refs) == []
