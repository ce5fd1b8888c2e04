"""Loading rule files: validation, per-file errors, references across files, hashes."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest

from service.rules import Severity, load_rules
from service.rules.model import RuleLoadError
from tests.rules.conftest import LoadText, rule_yaml

GOOD = rule_yaml("sel: {action: model.read}\ncondition: sel", name="good_rule")


def load_dir(tmp_path: Path, files: dict[str, str]) -> tuple[list, list[RuleLoadError]]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return load_rules(directory=tmp_path)


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        ("title: [unclosed\n", None, "YAML"),
        (rule_yaml("sel: {user.name: x}\ncondition: sel"), "detection", "user.name"),
        (rule_yaml("sel: {action|bogus: x}\ncondition: sel"), "detection", "bogus"),
        (
            rule_yaml("sel: {action: x}\ncondition: sel and missing"),
            "detection.condition",
            "missing",
        ),
        (rule_yaml("sel: [a, b]\ncondition: sel"), "detection", "keyword"),
        (rule_yaml("sel: {actor.ip|cidr: 10.0.0.0/33}\ncondition: sel"), "detection", "CIDR"),
        (rule_yaml("sel: {actor.id|re: '('}\ncondition: sel"), "detection", "invalid"),
        # Backreferences and lookaround have no linear-time engine: refused at load (RE2).
        (rule_yaml("sel: {actor.id|re: '(a)\\1'}\ncondition: sel"), "detection", "invalid"),
        (rule_yaml("sel: {actor.id|re: 'a(?=b)'}\ncondition: sel"), "detection", "invalid"),
        (rule_yaml("sel: {action: x}\ncondition: sel", level="severe"), "level", "severe"),
        (rule_yaml("sel: {action: x}\ncondition: sel", extra="levle: high\n"), "levle", "unknown"),
        (
            rule_yaml("sel: {action: x}\ncondition: sel", extra="custom: {runbok: x}\n"),
            "custom.runbok",
            "unknown",
        ),
        (
            rule_yaml("sel: {action: x}\ncondition: sel", extra="custom: {runbook: 7}\n"),
            "custom.runbook",
            "runbook id",
        ),
        (
            rule_yaml("sel: {action: x}\ncondition: sel", extra="custom: {dedup: [user]}\n"),
            "custom.dedup",
            "user",
        ),
        (
            rule_yaml(
                "sel: {action: x}\ncondition: sel",
                extra="custom: {first_seen: {fields: [actor.id], history: 30x}}\n",
            ),
            "custom.first_seen.history",
            "30x",
        ),
        (
            rule_yaml(
                "sel: {action: x}\ncondition: sel",
                extra="custom: {first_seen: {fields: [who], history: 30d}}\n",
            ),
            "custom.first_seen.fields",
            "who",
        ),
        (
            "title: no id\nlevel: low\nlogsource: {product: x}\n"
            "detection: {s: {action: a}, condition: s}\n",
            "id",
            "UUID",
        ),
        (
            rule_yaml("sel: {action: x}\ncondition: sel").replace("level: medium\n", ""),
            "level",
            "level",
        ),
    ],
)
def test_broken_file_is_reported_and_others_load(
    tmp_path: Path, text: str, field: str | None, fragment: str
):
    rules, errors = load_dir(tmp_path, {"a_good.yml": GOOD, "b_bad.yml": text})
    assert [r.name for r in rules] == ["good_rule"]
    (error,) = errors
    assert error.path == tmp_path / "b_bad.yml"
    assert error.field == field
    assert fragment.lower() in error.message.lower()
    assert "b_bad.yml" in str(error)


def correlation(name: str, rules: str, extra: str = "", ctype: str = "event_count") -> str:
    return (
        textwrap.dedent(f"""\
        title: {name}
        id: {uuid.uuid4()}
        name: {name}
        level: high
        correlation:
          type: {ctype}
          rules: {rules}
          group-by: [actor.id]
          timespan: 5m
        """)
        + extra
    )


def test_correlation_errors_name_the_field(tmp_path: Path):
    files = {
        "base.yml": rule_yaml("sel: {action: a}\ncondition: sel", name="base"),
        "dangling.yml": correlation("dangling", "[nope]", "  condition: {gte: 2}\n"),
        "badtype.yml": correlation(
            "badtype", "[base]", "  condition: {field: attributes.n, gte: 2}\n", "value_sum"
        ),
        "badgroup.yml": correlation("badgroup", "[base]", "  condition: {gte: 2}\n").replace(
            "[actor.id]", "[user]"
        ),
        "extended.yml": correlation("extended", "[base]", "  condition: base\n", "temporal"),
        "ordered_cond.yml": correlation(
            "ordered_cond", "[base]", "  condition: {gte: 5}\n", "temporal_ordered"
        ),
        "no_field.yml": correlation("no_field", "[base]", "  condition: {gte: 5}\n", "value_count"),
    }
    rules, errors = load_dir(tmp_path, files)
    assert [r.name for r in rules] == ["base"]
    by_file = {e.path.name: e for e in errors}
    assert by_file["dangling.yml"].field == "correlation.rules"
    assert "nope" in by_file["dangling.yml"].message
    assert by_file["badtype.yml"].field == "correlation.type"
    assert by_file["badgroup.yml"].field == "correlation.group-by"
    assert by_file["extended.yml"].field == "correlation.condition"
    assert by_file["ordered_cond.yml"].field == "correlation.condition"
    assert by_file["no_field.yml"].field == "correlation"
    assert base_emits(rules)


def base_emits(rules: list) -> bool:
    # Nothing valid references "base", so it still fires on its own.
    return all(r.emits for r in rules)


def test_rejection_cascades_to_dependent_correlations(tmp_path: Path):
    files = {
        "a.yml": rule_yaml("sel: {bogus: a}\ncondition: sel", name="base"),
        "b.yml": correlation("burst", "[base]", "  condition: {gte: 2}\n"),
        "c.yml": correlation("burst2", "[burst]", "  condition: {gte: 2}\n"),
        "d.yml": GOOD,
    }
    rules, errors = load_dir(tmp_path, files)
    assert [r.name for r in rules] == ["good_rule"]
    assert sorted(e.path.name for e in errors) == ["a.yml", "b.yml", "c.yml"]


def test_cycles_and_duplicates_are_rejected(tmp_path: Path):
    cyc_a = correlation("cyc_a", "[cyc_b]", "  condition: {gte: 1}\n")
    cyc_b = correlation("cyc_b", "[cyc_a]", "  condition: {gte: 1}\n")
    dup = GOOD
    rules, errors = load_dir(
        tmp_path, {"a.yml": cyc_a, "b.yml": cyc_b, "c.yml": GOOD, "d.yml": dup}
    )
    assert [r.name for r in rules] == ["good_rule"]
    messages = {e.path.name: e.message for e in errors}
    assert "cycle" in messages["a.yml"]
    assert "duplicate" in messages["d.yml"]


def test_metadata_custom_forms_and_emits(tmp_path: Path):
    multi = (
        rule_yaml(
            "sel: {action: model.weights.download}\ncondition: sel",
            name="dl",
            level="informational",
            extra="tags: [atlas.aml.t0024, attack.t1567]\ncustom:\n  runbook: model-exfiltration\n"
            "  dedup: [actor.id]\n",
        )
        + "---\n"
        + correlation("many", "[dl]", "  condition: {gte: 3}\ncustom.runbook: x-y\n")
    )
    rules, errors = load_dir(tmp_path, {"sub/multi.yaml": multi, "tests/ignored.yml": "x: ["})
    assert not errors
    dl, many = rules
    assert dl.severity is Severity.INFO and many.severity is Severity.HIGH
    assert dl.tags == ("atlas.aml.t0024", "attack.t1567")
    assert (dl.runbook, dl.dedup) == ("model-exfiltration", ("actor.id",))
    assert many.runbook == "x-y"  # dotted spelling of the custom keys
    assert dl.path == many.path == tmp_path / "sub/multi.yaml"
    assert not dl.emits and many.emits  # referenced without generate: silent
    assert len(dl.content_hash) == 64 and dl.content_hash != many.content_hash


def test_content_hash_is_stable_and_tracks_changes(tmp_path: Path, load_text: LoadText):
    text = rule_yaml("sel: {action: a}\ncondition: sel", name="h")
    (first,) = load_text(text)
    (again,) = load_text("# a comment changes nothing\n" + text)
    (changed,) = load_text(text.replace("action: a", "action: b"))
    assert first.content_hash == again.content_hash != changed.content_hash


def test_correlation_hash_covers_referenced_rules(load_text: LoadText):
    base = rule_yaml("sel: {action: a}\ncondition: sel", name="b")
    corr = correlation("c", "[b]", "  condition: {gte: 2}\n")
    one = {r.name: r.content_hash for r in load_text(base, corr)}
    two = {r.name: r.content_hash for r in load_text(base.replace("action: a", "action: z"), corr)}
    assert one["c"] != two["c"]


def test_generate_true_keeps_referenced_rule_firing(load_text: LoadText):
    base = rule_yaml("sel: {action: a}\ncondition: sel", name="b")
    corr = correlation("c", "[b]", "  condition: {gte: 2}\n  generate: true\n")
    rules = {r.name: r for r in load_text(base, corr)}
    assert rules["b"].emits
