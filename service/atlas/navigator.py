"""An ATLAS Navigator layer (layer format 4.5, domain `atlas-atlas`) of rule coverage.

Each technique a deployed rule is tagged with gets a score: by default the number of rules
that cover it; with `score_by="firings"`, the number of times those rules fired. The
comment names the rules, so a reviewer sees which detection backs which cell.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from service.atlas.catalog import catalog, technique_of_tag

LAYER_FORMAT = "4.5"
NAVIGATOR_VERSION = "5.1.0"


@dataclass(frozen=True, slots=True)
class RuleTags:
    id: str
    name: str
    tags: tuple[str, ...]


def coverage(rules: Iterable[RuleTags]) -> dict[str, list[RuleTags]]:
    """ATLAS technique id -> the rules tagged with it (unknown ids left out)."""
    known = catalog().techniques
    out: dict[str, list[RuleTags]] = defaultdict(list)
    for rule in rules:
        for tag in rule.tags:
            tid = technique_of_tag(tag)
            if tid is not None and tid in known and rule not in out[tid]:
                out[tid].append(rule)
    return dict(out)


def layer(
    rules: Iterable[RuleTags],
    *,
    firings: Mapping[str, int] | None = None,
    score_by: Literal["rules", "firings"] = "rules",
    name: str = "Custody rule coverage",
) -> dict[str, Any]:
    firings = firings or {}
    cat = catalog()
    covered = coverage(rules)
    techniques: list[dict[str, Any]] = []
    top = 0
    for tid in sorted(covered):
        backing = covered[tid]
        fired = sum(firings.get(r.id, 0) for r in backing)
        score = len(backing) if score_by == "rules" else fired
        top = max(top, score)
        techniques.append(
            {
                "techniqueID": tid,
                "score": score,
                "enabled": True,
                "comment": "; ".join(f"{r.name} ({firings.get(r.id, 0)} firings)" for r in backing),
                "metadata": [{"name": "rule", "value": r.name} for r in backing],
            }
        )
    return {
        "name": name,
        "versions": {"layer": LAYER_FORMAT, "navigator": NAVIGATOR_VERSION},
        "domain": "atlas-atlas",
        "description": (
            f"Techniques covered by Custody's deployed rules, scored by {score_by}. "
            f"ATLAS data {cat.version}."
        ),
        "techniques": techniques,
        "gradient": {"colors": ["#ffe766", "#8ec843"], "minValue": 0, "maxValue": max(top, 1)},
        "metadata": [
            {"name": "atlas_version", "value": cat.version},
            {"name": "covered_techniques", "value": str(len(techniques))},
            {"name": "catalog_techniques", "value": str(len(cat.techniques))},
        ],
    }
