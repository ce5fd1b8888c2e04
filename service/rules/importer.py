"""Check or import a foreign rules directory (SigmaHQ's, say) against the deployed pack.

`custody rules check DIR` and `custody rules import DIR` share this: load every rule file
the directory holds together with the pack (so a correlation may reference a pack rule,
and an id already in the pack is caught), then sort each file into loaded or not, with
the reason. Import copies the loadable files unmodified (authors and licence headers kept,
as SigmaHQ's Detection Rule License asks) under `<pack>/imported/<name>/`, a folder it
owns: a later import of a newer upstream copy replaces it, and files that no longer load
(deprecated upstream, say) are removed from it.
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from service.rules.loader import load_rule_files, rule_files
from service.rules.model import Rule, RuleLoadError

IMPORTED = "imported"
_INVALID = "invalid"

# How each reason reads in reports, in report order.
REASONS = {
    "logsource": "unsupported logsource",
    "field": "unsupported field",
    "modifier": "unsupported modifier or value",
    "keyword": "keyword search (no field)",
    "condition": "unsupported condition",
    "document": "collection action or filter document",
    "deprecated": "deprecated",
    "status": "status unsupported",
    _INVALID: "invalid rule",
}


def reason(error: RuleLoadError) -> str:
    return error.unsupported or _INVALID


@dataclass
class Report:
    directory: Path
    rules: list[Rule]  # loaded from `directory`
    errors: list[RuleLoadError]  # files of `directory` that did not load, each reason
    files: int
    copied: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)

    @property
    def rejected_files(self) -> dict[Path, str]:
        """File -> the reason of its first error (a file loads or not as a whole)."""
        out: dict[Path, str] = {}
        for error in self.errors:
            out.setdefault(error.path, reason(error))
        return out

    def counts(self) -> Counter[str]:
        return Counter(self.rejected_files.values())

    @property
    def loaded_files(self) -> list[Path]:
        return sorted({rule.path for rule in self.rules})


def examine(*, directory: Path, pack: Path | None, skip: Path | None = None) -> Report:
    """Load `directory`'s rule files alongside the pack's (minus `skip`, the folder an
    import is about to replace); report on `directory`'s files only."""
    directory = directory.resolve()
    own = rule_files(directory=directory)
    pack_files: list[Path] = []
    if pack is not None and pack.is_dir() and pack.resolve() != directory:
        pack_files = [
            p
            for p in rule_files(directory=pack.resolve())
            if skip is None or not p.is_relative_to(skip.resolve())
        ]
        pack_files = [p for p in pack_files if not p.is_relative_to(directory)]
    # Pack files first: on a duplicate id the earlier file wins, and the pack is deployed.
    rules, errors = load_rule_files(paths=[*pack_files, *own])
    mine = set(own)
    return Report(
        directory=directory,
        rules=[r for r in rules if r.path in mine],
        errors=[e for e in errors if e.path in mine],
        files=len(own),
    )


def import_rules(*, source: Path, pack: Path, name: str, dry_run: bool = False) -> Report:
    """Copy the loadable rule files of `source` into `<pack>/imported/<name>/`."""
    target = pack / IMPORTED / name
    report = examine(directory=source, pack=pack, skip=target)
    keep: set[Path] = set()
    for path in report.loaded_files:
        dest = target / path.relative_to(report.directory)
        keep.add(dest.resolve())
        if dest.is_file() and dest.read_bytes() == path.read_bytes():
            report.unchanged.append(dest)
            continue
        report.copied.append(dest)
        if not dry_run:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
    if target.is_dir():
        for old in rule_files(directory=target):
            if old.resolve() not in keep:
                report.removed.append(old)
                if not dry_run:
                    old.unlink()
    if not dry_run and report.loaded_files:
        _write_note(target, report)
    return report


def _write_note(target: Path, report: Report) -> None:
    """Where the files came from (provenance and attribution travel with the copies)."""
    counts = report.counts()
    lines = [
        f"# Imported rules: {target.name}",
        "",
        f"Imported by `custody rules import` from `{report.directory}` at "
        f"{datetime.now(UTC).isoformat(timespec='seconds')}: {len(report.loaded_files)} of "
        f"{report.files} rule files load. Files are copied unmodified; each keeps its "
        "`author` and licence (SigmaHQ rules: Detection Rule License 1.1, which asks to "
        "keep that attribution). Re-run the import to take upstream changes; this folder "
        "is replaced as a whole.",
        "",
        "Not imported: "
        + (", ".join(f"{REASONS.get(k, k)} {n}" for k, n in sorted(counts.items())) or "none"),
        "",
    ]
    (target / "IMPORT.md").write_text("\n".join(lines))
