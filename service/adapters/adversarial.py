"""Adversarial test results (inspect-ai eval logs, garak reports) -> `model.eval.adversarial`.

An evaluation is evidence about a model version: was it red-teamed, and how often did
the attacks succeed? Each result becomes one event on the model under test:

- resource: the model (`model`, with `version` when the run names one)
- attributes: `tool`, `task` (inspect task or garak probe), `attempts`, `failures`
  (attacks that succeeded: samples the scorer failed, or garak hits), `failure_rate`,
  `score` (the tool's own headline value), `technique` (ATLAS id when the task or probe
  maps to one), `run_id`
- outcome: `failure` when any attack succeeded, else `success`

inspect-ai: one eval log (`inspect eval --log-format json`) is one event; the samples
(prompts and outputs) are left out of `raw`, which keeps the log's header, results and
stats. The model version comes from the task's metadata `model_version` when given
(`inspect eval ... -M model_version=2026-11-01` or `--metadata`).
garak: the report's closing `digest` entry (written when a run finishes) holds every
probe and detector result with the target model; each result is one event, and the
report's other lines are skipped, so `custody ship garak.<run>.report.jsonl` works line
by line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.adapters.common import AdapterError, Event, as_dict, build_event, content_id

INSPECT_SOURCE = "inspect-ai"
GARAK_SOURCE = "garak"
ACTION = "model.eval.adversarial"

# Words in a task or probe name -> the ATLAS technique it exercises.
_TECHNIQUES = (
    ("promptinject", "AML.T0051"),
    ("injection", "AML.T0051"),
    ("latentinjection", "AML.T0051"),
    ("jailbreak", "AML.T0054"),
    ("dan", "AML.T0054"),
    ("systemprompt", "AML.T0056"),
    ("leak", "AML.T0057"),
    ("exfil", "AML.T0057"),
)


def technique_of(name: str) -> str | None:
    lowered = name.lower().replace("_", "").replace("-", "")
    parts = lowered.split(".")
    for word, technique in _TECHNIQUES:
        if any(p == word or (len(word) > 3 and word in p) for p in parts):
            return technique
    return None


def _event(
    *, source: str, event_id: str, time: Any, model: str, version: Any, task: str,
    attempts: int, failures: int, score: Any, run_id: Any, raw: Any,
) -> Event:  # fmt: skip
    return build_event(
        source=source,
        event_id=event_id,
        time=time,
        action=ACTION,
        outcome="failure" if failures else "success",
        actor={"type": "service", "id": source},
        resource={"type": "model", "id": model, "version": version},
        request_id=run_id,
        attributes={
            "tool": source,
            "task": task,
            "attempts": attempts,
            "failures": failures,
            "failure_rate": round(failures / attempts, 4) if attempts else None,
            "score": score,
            "technique": technique_of(task),
            "run_id": run_id,
        },
        raw=raw,
    )


# --- inspect-ai ---------------------------------------------------------------------


def inspect_records(payload: Any) -> list[Any] | None:
    """An inspect eval log without its samples (prompts and outputs), else None."""
    if isinstance(payload, dict) and _is_inspect(payload) and "samples" in payload:
        return [{k: v for k, v in payload.items() if k != "samples"}]
    return None


def _is_inspect(obj: Mapping[str, Any]) -> bool:
    ev = obj.get("eval")
    return isinstance(ev, dict) and "task" in ev and "model" in ev and "status" in obj


def inspect_detect(obj: Mapping[str, Any]) -> bool:
    return _is_inspect(obj)


def inspect_to_event(obj: Mapping[str, Any]) -> Event:
    ev = as_dict(obj.get("eval"))
    if obj.get("status") != "success":
        raise AdapterError(f"inspect eval status is {obj.get('status')!r}: no results to record")
    results = as_dict(obj.get("results"))
    scores = results.get("scores") or []
    if not scores:
        raise AdapterError("inspect eval log has no scores")
    first = as_dict(scores[0])
    metrics = as_dict(first.get("metrics"))
    accuracy = as_dict(metrics.get("accuracy")).get("value")
    scored = int(first.get("scored_samples") or results.get("completed_samples") or 0)
    if not isinstance(accuracy, int | float):
        raise AdapterError("inspect eval log has no accuracy metric to count failures by")
    # A sample the scorer failed is an attack that got through.
    failures = round(scored * (1 - float(accuracy)))
    metadata = as_dict(ev.get("metadata")) | as_dict(ev.get("model_args"))
    stats = as_dict(obj.get("stats"))
    return _event(
        source=INSPECT_SOURCE,
        event_id=f"inspect:{ev.get('eval_id') or content_id(ev)}",
        time=stats.get("completed_at") or ev.get("created"),
        model=str(ev["model"]),
        version=metadata.get("model_version"),
        task=str(ev["task"]),
        attempts=scored,
        failures=failures,
        score=accuracy,
        run_id=ev.get("run_id"),
        raw=obj,
    )


# --- garak ---------------------------------------------------------------------------

GARAK_ENTRIES = frozenset({
    "start_run setup", "init", "attempt", "eval", "completion", "payload_init", "config",
    "plugin_cache", "probe_summary",
})  # fmt: skip


def garak_records(payload: Any) -> list[Any] | None:
    """A line of a garak report: the closing `digest` entry becomes one record per probe
    and detector (joined with the run's model and id); every other garak entry is
    dropped (the digest repeats their results). Anything else: None."""
    if not isinstance(payload, dict):
        return None
    kind = payload.get("entry_type")
    if kind in GARAK_ENTRIES:
        return []
    if kind != "digest" or not isinstance(payload.get("eval"), dict):
        return None
    meta = as_dict(payload.get("meta"))
    run = {k: meta.get(k) for k in ("run_uuid", "start_time", "garak_version",
                                     "target_type", "target_name", "reportfile")}  # fmt: skip
    out: list[Any] = []
    for group in payload["eval"].values():
        for probe, detectors in as_dict(group).items():
            if probe == "_summary":
                continue
            for detector, result in as_dict(detectors).items():
                if detector != "_summary":
                    out.append({"garak_run": run, "garak_eval": {
                        "probe": probe, "detector": detector, **as_dict(result)}})  # fmt: skip
    return out


def garak_detect(obj: Mapping[str, Any]) -> bool:
    return isinstance(obj.get("garak_run"), dict) and isinstance(obj.get("garak_eval"), dict)


def garak_to_event(obj: Mapping[str, Any]) -> Event:
    run, entry = as_dict(obj.get("garak_run")), as_dict(obj.get("garak_eval"))
    probe, detector = str(entry.get("probe", "")), str(entry.get("detector", ""))
    total, passed = entry.get("total_evaluated"), entry.get("passed")
    if not isinstance(total, int) or not isinstance(passed, int):
        raise AdapterError(f"garak {probe} / {detector}: no integer total_evaluated and passed")
    # Generators without a model name (garak's test.Blank) are named by their type.
    model = run.get("target_name") or run.get("target_type")
    if not model:
        raise AdapterError("garak digest names no target (meta.target_name, target_type)")
    return _event(
        source=GARAK_SOURCE,
        event_id=f"garak:{run.get('run_uuid')}:{probe}:{detector}",
        time=run.get("start_time"),
        model=str(model),
        version=None,
        task=f"{probe}/{detector}",
        attempts=total,
        failures=total - passed,
        score=round(passed / total, 4) if total else None,
        run_id=run.get("run_uuid"),
        raw=obj,
    )
