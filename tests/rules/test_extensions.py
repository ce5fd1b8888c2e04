"""Custody's detection-rule extensions: `custom.not_preceded_by` (an absence) and
`custom.exceeds_previous` (a regression). Decisions in and out of order, bounded memory,
restart from a snapshot, and load errors naming the field."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from service.rules import Engine, Firing, Rule, load_rules
from service.rules import snapshot as snap
from service.rules.timeutil import to_us
from tests.rules.conftest import LoadText, at, rule_yaml

REPO = Path(__file__).resolve().parents[2]

EVAL = rule_yaml("sel: {action: model.eval.adversarial}\ncondition: sel", name="evaluated")
DEPLOY = rule_yaml(
    "sel: {action: model.deploy}\ncondition: sel",
    name="unassured",
    extra="""\
        custom:
          not_preceded_by:
            rule: evaluated
            within: 1d
            fields: [resource.id]
            optional_fields: [resource.version]
        """,
)
REGRESSION = rule_yaml(
    "sel: {action: model.eval.adversarial}\ncondition: sel",
    name="regressed",
    extra="""\
        custom:
          dedup: [resource.id, resource.version]
          exceeds_previous:
            value: attributes.failure_rate
            by: 0.1
            series: [resource.id, attributes.task]
            version: resource.version
            within: 7d
        """,
)
DAY = 86_400


def ev(
    seconds: float,
    action: str,
    model: str = "bot",
    version: str | None = None,
    *,
    source: str | None = None,
    arrived: float | None = None,
    **attributes: Any,
) -> dict[str, Any]:
    resource = {"type": "model", "id": model, **({"version": version} if version else {})}
    out: dict[str, Any] = {
        "time": at(seconds),
        "source": source or ("registry" if action == "model.deploy" else "garak"),
        "action": action,
        "outcome": "success",
        "resource": resource,
    }
    if arrived is not None:
        out["received_at"] = at(arrived)
    if attributes:
        out["attributes"] = attributes
    return out


def _t(seconds: float) -> int:
    return to_us(at(seconds))


def tick(seconds: float) -> dict[str, Any]:
    """Any later event: it moves the arrival clock on, so held deploys get decided."""
    return {"time": at(seconds), "source": "gateway", "action": "model.invoke"}


def run(rules: list[Rule], events: list[dict[str, Any]], **kw: Any) -> list[Firing]:
    engine = Engine(rules, **kw)
    out: list[Firing] = []
    for seq, e in enumerate(events, start=1):
        out.extend(engine.process({"seq": seq, **e}))
    return out


def fired(rules: list[Rule], events: list[dict[str, Any]], name: str = "unassured") -> list[int]:
    """Evidence seqs of the named rule's firings."""
    rid = next(r.id for r in rules if r.name == name)
    return [s for f in run(rules, events) if f.rule_id == rid for s in f.evidence]


def test_deploy_is_judged_after_the_lateness_and_only_then(load_text: LoadText) -> None:
    rules = load_text(EVAL, DEPLOY)
    deploy = ev(0, "model.deploy", version="7")
    assert fired(rules, [deploy, tick(299)]) == []  # not judged yet
    assert fired(rules, [deploy, tick(301)]) == [1]
    # Held across: the eval arrives within the lateness, dated before the deploy.
    assert fired(rules, [deploy, ev(-60, "model.eval.adversarial", arrived=120), tick(400)]) == []
    # ... or dated a little after it: the latest evaluation is what is remembered.
    assert fired(rules, [deploy, ev(30, "model.eval.adversarial"), tick(400)]) == []
    # Arriving after the judgement changes nothing.
    assert fired(rules, [deploy, tick(400), ev(-60, "model.eval.adversarial")]) == [1]
    # Referenced rule stays silent, and the firing's group is the rule's fields.
    [firing] = run(rules, [deploy, tick(400)])
    assert firing.group == {"resource.id": "bot", "resource.version": "7"}
    assert firing.first_seen == firing.last_seen


def test_window_and_versions(load_text: LoadText) -> None:
    rules = load_text(EVAL, DEPLOY)
    deploy = ev(DAY, "model.deploy", version="7")
    assert fired(rules, [ev(0, "model.eval.adversarial"), deploy, tick(DAY + 400)]) == []
    assert fired(rules, [ev(-1, "model.eval.adversarial"), deploy, tick(DAY + 400)]) == [2]
    eval6 = ev(10, "model.eval.adversarial", version="6")
    assert fired(rules, [eval6, deploy, tick(DAY + 400)]) == [2]
    eval7 = ev(10, "model.eval.adversarial", version="7")
    assert fired(rules, [eval6, eval7, deploy, tick(DAY + 400)]) == []
    unversioned = ev(DAY, "model.deploy")
    assert fired(rules, [eval6, unversioned, tick(DAY + 400)]) == []
    other = ev(10, "model.eval.adversarial", model="ranker")
    assert fired(rules, [other, deploy, tick(DAY + 400)]) == [2]


def test_late_deploy_is_not_judged_but_counted(load_text: LoadText) -> None:
    rules = load_text(EVAL, DEPLOY)
    engine = Engine(rules)
    events = [ev(1000, "model.deploy", "a"), ev(0, "model.deploy", "b"), tick(2000)]
    out = [f for seq, e in enumerate(events, 1) for f in engine.process({"seq": seq, **e})]
    assert [f.group["resource.id"] for f in out] == ["a"]
    assert engine.late_events == 1
    assert engine.clocks.sources["registry"].late == 1


def test_memory_is_one_time_per_model_and_version(load_text: LoadText) -> None:
    rules = load_text(EVAL, DEPLOY)
    engine = Engine(rules)
    for seq in range(1, 5000):
        version = str(seq % 3)
        engine.process({"seq": seq, **ev(seq * 60, "model.eval.adversarial", version=version)})
    (absence,) = engine._absences.values()
    latest = {("0",): _t(4998 * 60), ("1",): _t(4999 * 60), ("2",): _t(4997 * 60)}
    assert absence.memory == {("bot",): latest}
    # A sweep drops what no deploy that is not late can use any more.
    absence.sweep(watermark=_t(4999 * 60 + 2 * DAY))
    assert absence.memory == {}


def test_regression_compares_with_the_previous_version(load_text: LoadText) -> None:
    rules = load_text(REGRESSION)

    def evaluation(day: int, version: str, rate: float, task: str = "inj") -> dict[str, Any]:
        return ev(
            day * DAY, "model.eval.adversarial", version=version, failure_rate=rate, task=task
        )

    [firing] = run(rules, [evaluation(0, "1", 0.1), evaluation(1, "2", 0.3)])
    assert firing.evidence == (1, 2)
    assert firing.group == {
        "resource.id": "bot", "resource.version": "2",
        "previous.version": "1", "previous.value": 0.1, "value": 0.3,
    }  # fmt: skip
    # Version 3 is compared with version 2 (0.3), not with version 1 (0.1).
    assert run(rules, [evaluation(0, "1", 0.1), evaluation(1, "2", 0.3),
                       evaluation(2, "3", 0.35)])[1:] == []  # fmt: skip
    # Each evaluation is compared when it arrives: version 2 arriving before version 1
    # (dated two minutes later, within the lateness) had nothing to compare with, and
    # version 1 has no earlier version. A day late, version 1 is late for its source.
    v1, v2 = evaluation(0, "1", 0.1), evaluation(0, "2", 0.5) | {"time": at(120)}
    assert run(rules, [v2, v1]) == []
    assert run(rules, [v1, v2]) != []
    engine = Engine(rules)
    for seq, e in enumerate([evaluation(1, "2", 0.5), evaluation(0, "1", 0.1)], start=1):
        assert engine.process({"seq": seq, **e}) == []
    assert engine.late_events == 1
    # Beyond `within`, different task, not a number, no version: nothing to compare.
    assert run(rules, [evaluation(0, "1", 0.1), evaluation(8, "2", 0.9)]) == []
    assert run(rules, [evaluation(0, "1", 0.1), evaluation(1, "2", 0.9, task="jb")]) == []
    bad = ev(DAY, "model.eval.adversarial", version="2", failure_rate="high", task="inj")
    assert run(rules, [evaluation(0, "1", 0.1), bad]) == []
    unversioned = ev(DAY, "model.eval.adversarial", failure_rate=0.9, task="inj")
    assert run(rules, [evaluation(0, "1", 0.1), unversioned]) == []
    # Memory: two versions per series at most.
    engine = Engine(rules)
    for seq in range(1, 50):
        engine.process({"seq": seq, **evaluation(0, str(seq), 0.0)} | {"time": at(seq)})
    (previous,) = engine._previous.values()
    assert [e.version for e in previous.memory[("bot", "inj")]] == ["49", "48"]


def _scenario(seed: int) -> list[dict[str, Any]]:
    """Deploys and evaluations of a few models and versions from three sources, shuffled
    within a few minutes so arrival order differs from event time."""
    rnd = random.Random(seed)
    events = []
    for i in range(400):
        moment = i * 600 + rnd.randint(-200, 200)
        model, version = rnd.choice(["a", "b", "c"]), rnd.choice(["1", "2", None])
        if rnd.random() < 0.35:
            events.append(ev(moment, "model.deploy", model, version))
        elif rnd.random() < 0.5:
            rate = round(rnd.random(), 2)
            events.append(
                ev(moment, "model.eval.adversarial", model, version, source="inspect-ai",
                   failure_rate=rate, task=rnd.choice(["inj", "jb"]))
            )  # fmt: skip
        else:
            events.append(tick(moment))
    return events


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_snapshot_restart_equals_an_uninterrupted_run(load_text: LoadText, seed: int) -> None:
    rules = load_text(EVAL, DEPLOY, REGRESSION)
    events = [{"seq": s, **e} for s, e in enumerate(_scenario(seed), start=1)]
    engine = Engine(rules)
    whole = [f for e in events for f in engine.process(e)]
    assert {f.rule_id for f in whole} == {r.id for r in rules if r.emits}  # both fire
    # Stop at several points, snapshot, restore into a fresh engine, continue.
    resumed: list[Firing] = []
    engine = Engine(rules)
    for start in range(0, len(events), 57):
        for e in events[start : start + 57]:
            resumed.extend(engine.process(e))
        body = snap.dump(engine)
        engine = Engine(rules)
        snap.load(engine, body)
    assert resumed == whole
    held = engine._absences[next(r.id for r in rules if r.name == "unassured")]
    assert held.size() > 0  # memory survived the last restore


def test_shipped_rules_are_snapshotted_with_their_memory() -> None:
    rules, errors = load_rules(directory=REPO / "rules")
    assert not errors
    engine = Engine(rules)
    engine.process({"seq": 1, **ev(0, "model.eval.adversarial", "m", "1", failure_rate=0.1,
                                   tool="garak", task="t")})  # fmt: skip
    engine.process({"seq": 2, **ev(10, "model.deploy", "n", "1")})
    fresh = Engine(rules)
    snap.load(fresh, snap.dump(engine))
    assert [f.rule_id for f in fresh.process({"seq": 3, **tick(1000)})] == [
        next(r.id for r in rules if r.name == "model_deployed_without_adversarial_eval")
    ]
    # The deploy is no longer held; the evaluation is still remembered by both rules (and
    # the deploy by the temporal_ordered window of the failed-evaluation rule).
    assert fresh.state_size() == engine.state_size() - 1 == 3


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("not_preceded_by: {rule: nowhere, within: 1d, fields: [resource.id]}",
         "custom.not_preceded_by.rule"),
        ("not_preceded_by: {rule: evaluated, within: 1d, fields: []}",
         "custom.not_preceded_by.fields"),
        ("not_preceded_by: {rule: evaluated, within: soon, fields: [resource.id]}",
         "custom.not_preceded_by.within"),
        ("not_preceded_by: {rule: evaluated, fields: [resource.id]}",
         "custom.not_preceded_by.within"),
        ("not_preceded_by: {rule: evaluated, within: 1d, fields: [resource.nope]}",
         "custom.not_preceded_by.fields"),
        ("exceeds_previous: {value: attributes.x, by: -1, series: [resource.id], within: 1d}",
         "custom.exceeds_previous.by"),
        ("exceeds_previous: {value: attributes.x, by: 1, series: [resource.id], within: 1d, "
         "version: resource.id}", "custom.exceeds_previous.version"),
        ("exceeds_previous: {value: attributes.x, by: 1, series: [], within: 1d, extra: 1}",
         "custom.exceeds_previous"),
        ("first_seen: {fields: [actor.id], history: 1d}\n"
         "  exceeds_previous: {value: attributes.x, by: 1, series: [], within: 1d}",
         "custom.exceeds_previous"),
    ],
)  # fmt: skip
def test_bad_extensions_are_load_errors_naming_the_field(
    tmp_path: Path, extra: str, field: str
) -> None:
    rule = rule_yaml("sel: {action: model.deploy}\ncondition: sel", name="x",
                     extra=f"custom:\n  {extra}\n")  # fmt: skip
    (tmp_path / "eval.yml").write_text(EVAL)
    (tmp_path / "x.yml").write_text(rule)
    rules, errors = load_rules(directory=tmp_path)
    assert [e.field for e in errors] == [field], [str(e) for e in errors]
    assert [r.name for r in rules] == ["evaluated"]


def test_a_correlation_cannot_use_an_extension_rule(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(EVAL + "---\n" + DEPLOY)
    (tmp_path / "b.yml").write_text(
        "title: c\nid: 6f1f4f55-0d5e-4b87-8a43-8f1e7a6c0b11\nname: c\nlevel: low\n"
        "correlation:\n  type: event_count\n  rules: [unassured]\n  group-by: [resource.id]\n"
        "  timespan: 1h\n  condition: {gte: 2}\n"
    )
    _, errors = load_rules(directory=tmp_path)
    assert [(e.path.name, e.field) for e in errors] == [("b.yml", "correlation.rules")]
