"""Adversarial test results as events: a real inspect-ai eval log (made here with the
real tool and its mockllm provider), shipped with `custody ship`; garak digests."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.adapters import AdapterError, detect_format, load_file, normalize
from service.adapters.adversarial import technique_of
from service.adapters.registry import skipped
from service.auth.schemas import Scope
from service.cli import app as cli
from tests.adapters.helpers import check_event, fixture

INSPECT = "inspect-ai/prompt-injection-resistance.eval.json"


def test_inspect_eval_log_is_one_event_on_the_model_without_the_samples() -> None:
    log = load_file(fixture(INSPECT))
    assert detect_format(log) == "inspect_ai"
    [event] = normalize(log)
    check_event(event)
    assert event["source"] == "inspect-ai" and event["action"] == "model.eval.adversarial"
    assert event["resource"] == {"type": "model", "id": "mockllm/model"}
    attrs = event["attributes"]
    # mockllm answered every injection with its default text: all three attacks got through.
    assert (attrs["attempts"], attrs["failures"], attrs["failure_rate"]) == (3, 3, 1.0)
    assert attrs["task"] == "prompt_injection_resistance" and attrs["technique"] == "AML.T0051"
    assert event["outcome"] == "failure"
    assert event["id"] == f"inspect:{log['eval']['eval_id']}"
    assert "samples" not in event["raw"] and "Ignore previous" not in json.dumps(event["raw"])
    assert normalize(copy.deepcopy(log)) == [event]  # deterministic

    errored = {**log, "status": "error"}
    with pytest.raises(AdapterError, match="status is 'error'"):
        normalize(errored)


def _digest(total: int, passed: int) -> dict[str, Any]:
    """The shape of garak's closing `digest` entry (garak.analyze.report_digest)."""
    return {
        "entry_type": "digest",
        "meta": {"run_uuid": "0b6d3c9e-1f7a-4e52-8d3b-7c1e9a2f4d60", "garak_version": "0.17.1",
                 "start_time": "2026-12-06T03:10:00.000000", "target_type": "test.Blank",
                 "target_name": "support-bot", "reportfile": "garak.0b6d.report.jsonl"},
        "eval": {"promptinject": {
            "_summary": {"group": "promptinject"},
            "promptinject.HijackHateHumans": {
                "_summary": {"probe_name": "promptinject.HijackHateHumans"},
                "promptinject.AttackRogueString": {"total_evaluated": total, "passed": passed,
                                                   "absolute_score": passed / total},
            },
        }},
    }  # fmt: skip


def test_garak_digest_becomes_one_event_per_probe_and_detector() -> None:
    [event] = normalize(_digest(total=50, passed=30))
    check_event(event)
    assert event["source"] == "garak" and event["resource"]["id"] == "support-bot"
    attrs = event["attributes"]
    assert (attrs["attempts"], attrs["failures"], attrs["failure_rate"]) == (50, 20, 0.4)
    assert attrs["technique"] == "AML.T0051"
    assert attrs["task"] == "promptinject.HijackHateHumans/promptinject.AttackRogueString"
    # The report's other lines carry nothing new: they are skipped, not refused.
    for kind in ("start_run setup", "init", "attempt", "eval", "completion"):
        assert skipped({"entry_type": kind})
    assert not skipped({"entry_type": "something else"})


@pytest.mark.parametrize(
    ("name", "technique"),
    [("promptinject.HijackKillHumans", "AML.T0051"), ("dan.Dan_11_0", "AML.T0054"),
     ("leakreplay.LiteratureCloze", "AML.T0057"), ("lmrc.Profanity", None),
     ("prompt_injection_resistance", "AML.T0051")],
)  # fmt: skip
def test_technique_of_task_or_probe(name: str, technique: str | None) -> None:
    assert technique_of(name) == technique


def test_custody_ship_sends_the_eval_log(
    client: TestClient, make_token: Any, server: str
) -> None:
    env = {"CUSTODY_URL": server, "CUSTODY_TOKEN": make_token(Scope.ingest)}
    result = CliRunner().invoke(cli, ["ship", str(fixture(INSPECT))], env=env)
    assert result.exit_code == 0, result.output
    events = client.get("/v1/events", params={"action": "model.eval.adversarial"}).json()
    assert [e["attributes"]["failures"] for e in events["items"]] == [3]


GARAK = "garak/dan-blank.report.jsonl"


def test_real_garak_report_line_by_line() -> None:
    """Each line of a real report, as `custody ship` reads it: only the digest yields
    events, one per probe and detector."""
    events = [e for line in load_file(fixture(GARAK)) for e in normalize(line)]
    by_task = {e["attributes"]["task"]: e for e in events}
    assert set(by_task) == {
        "dan.AntiDAN/dan.AntiDAN", "dan.AntiDAN/mitigation.MitigationBypass",
        "dan.Dan_11_0/dan.DAN", "dan.Dan_11_0/mitigation.MitigationBypass",
    }  # fmt: skip
    bypass = by_task["dan.Dan_11_0/mitigation.MitigationBypass"]
    check_event(bypass)
    # garak's test.Blank generator answers nothing, so no refusal: the bypass "succeeds".
    assert (bypass["attributes"]["attempts"], bypass["attributes"]["failures"]) == (2, 2)
    assert bypass["attributes"]["technique"] == "AML.T0054"
    assert bypass["resource"] == {"type": "model", "id": "test.Blank"}
    assert bypass["outcome"] == "failure" and bypass["source"] == "garak"
