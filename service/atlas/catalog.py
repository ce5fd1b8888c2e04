"""The ATLAS techniques Custody knows, from a vendored list (`techniques.json`: ids, names
and tactics of one ATLAS release; its version and source are in the file).

Rules and runbooks name techniques as lowercase Sigma-style tags, `atlas.aml.t0051.001`;
`technique_of_tag` turns such a tag into the ATLAS id (`AML.T0051.001`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

TAG = re.compile(r"^atlas\.(aml\.t\d{4}(?:\.\d{3})?)$", re.IGNORECASE)
ID = re.compile(r"^AML\.T\d{4}(?:\.\d{3})?$")


@dataclass(frozen=True, slots=True)
class Technique:
    id: str
    name: str
    tactics: tuple[str, ...]  # a sub-technique inherits its parent's
    parent: str | None


@dataclass(frozen=True, slots=True)
class Catalog:
    version: str
    source: str
    tactics: dict[str, str]
    techniques: dict[str, Technique]

    def get(self, technique_id: str) -> Technique | None:
        return self.techniques.get(technique_id.upper())


@cache
def catalog() -> Catalog:
    data: dict[str, Any] = json.loads(
        resources.files("service.atlas").joinpath("techniques.json").read_text()
    )
    raw = {t["id"]: t for t in data["techniques"]}
    techniques = {}
    for tid, t in raw.items():
        parent = t.get("parent")
        tactics = t.get("tactics") or (raw[parent].get("tactics", []) if parent else [])
        techniques[tid] = Technique(tid, t["name"], tuple(tactics), parent)
    return Catalog(
        version=data["atlas_version"],
        source=data["source"],
        tactics={t["id"]: t["name"] for t in data["tactics"]},
        techniques=techniques,
    )


def technique_of_tag(tag: str) -> str | None:
    """`atlas.aml.t0051.001` -> `AML.T0051.001`; None for tags that are not ATLAS ids."""
    match = TAG.match(tag)
    return match.group(1).upper() if match else None


def unknown_tags(tags: list[str] | tuple[str, ...]) -> list[str]:
    """The ATLAS-looking tags (`atlas.aml...`) that name no technique of the catalogue."""
    known = catalog().techniques
    out = []
    for tag in tags:
        if not tag.lower().startswith("atlas."):
            continue
        tid = technique_of_tag(tag)
        if tid is None or tid not in known:
            out.append(tag)
    return out
