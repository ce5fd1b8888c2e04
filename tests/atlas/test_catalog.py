"""ATLAS ids in the shipped rules and runbooks exist, and the coverage layer is a valid
Navigator layer built from them."""

from __future__ import annotations

import re
from pathlib import Path

from service.atlas.catalog import catalog, technique_of_tag, unknown_tags
from service.atlas.navigator import RuleTags, layer
from service.rules import load_rules

REPO = Path(__file__).resolve().parents[2]
ATLAS_TAG = re.compile(r"atlas\.aml\.t\d{4}(?:\.\d{3})?\b", re.IGNORECASE)


def test_catalogue_is_a_real_atlas_release() -> None:
    cat = catalog()
    assert cat.version == "5.6.0" and len(cat.techniques) == 170
    assert cat.get("AML.T0051").name == "LLM Prompt Injection"  # type: ignore[union-attr]
    indirect = cat.get("aml.t0051.001")
    assert indirect is not None and indirect.parent == "AML.T0051"
    assert indirect.tactics == cat.techniques["AML.T0051"].tactics != ()
    assert all(t in cat.tactics for tech in cat.techniques.values() for t in tech.tactics)


def test_every_atlas_id_in_rules_and_runbooks_exists() -> None:
    rules, errors = load_rules(directory=REPO / "rules")
    assert not errors
    tags = [tag for rule in rules for tag in rule.tags]
    assert any(t.startswith("atlas.") for t in tags)
    assert unknown_tags(tags) == []
    mentioned = [
        m.group(0)
        for path in (REPO / "runbooks").glob("*.md")
        for m in ATLAS_TAG.finditer(path.read_text())
    ]
    assert mentioned and unknown_tags(mentioned) == []


def test_unknown_and_malformed_ids_are_caught() -> None:
    assert technique_of_tag("atlas.aml.t0024.002") == "AML.T0024.002"
    assert technique_of_tag("attack.t1078") is None
    assert unknown_tags(["atlas.aml.t9999", "atlas.aml.t0051", "atlas.llm01", "attack.t1078"]) == [
        "atlas.aml.t9999",
        "atlas.llm01",
    ]


def test_coverage_layer_of_the_shipped_pack() -> None:
    rules, _ = load_rules(directory=REPO / "rules")
    tagged = [RuleTags(r.id, r.name or r.title, r.tags) for r in rules]
    by_rules = layer(tagged)
    assert by_rules["domain"] == "atlas-atlas" and by_rules["versions"]["layer"] == "4.5"
    cells = {t["techniqueID"]: t for t in by_rules["techniques"]}
    assert set(cells) <= set(catalog().techniques)
    backing = [r for r in tagged if "atlas.aml.t0040" in r.tags]
    assert cells["AML.T0040"]["score"] == len(backing) >= 2
    assert {m["value"] for m in cells["AML.T0040"]["metadata"]} == {r.name for r in backing}

    fired = layer(tagged, firings={backing[0].id: 5}, score_by="firings")
    scores = {t["techniqueID"]: t["score"] for t in fired["techniques"]}
    assert scores["AML.T0040"] == 5 and fired["gradient"]["maxValue"] == 5
