"""Parse runbook files (YAML front matter + Markdown body) into validated templates.

Layout (see runbooks/README.md): the front matter declares metadata and the steps per
phase; the body starts with the overview, and each step's instructions follow a
`## step: <id>` heading.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from service.runbooks.errors import RunbookLoadError
from service.runbooks.schemas import (
    PHASE_ORDER,
    FrontMatter,
    Problem,
    RunbookTemplate,
    Step,
)
from service.runbooks.template_check import check_template

_STEP_HEADING = re.compile(r"^##[ \t]+step:[ \t]*(\S+)[ \t]*$")
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")
_IGNORED_FILES = frozenset({"readme.md"})


@dataclass(frozen=True)
class _Section:
    text: str
    line: int  # 1-based file line where the section's text starts
    heading_line: int | None = None  # the `## step:` line, None for the overview


def load_dir(path: Path | str) -> tuple[list[RunbookTemplate], list[Problem]]:
    """Load every `*.md` runbook in `path` (README.md excepted), sorted by id.

    Invalid files and later duplicates of an id are left out and reported.
    """
    parsed: list[tuple[Path, RunbookTemplate]] = []
    problems: list[Problem] = []
    for file in runbook_files(path):
        try:
            parsed.append((file, parse_runbook(file.read_bytes(), source=str(file))))
        except RunbookLoadError as exc:
            problems.extend(exc.problems)
    # Of files sharing an id, the one named after it is the real one.
    parsed.sort(key=lambda item: (item[0].stem != item[1].id, item[0].name))
    seen: dict[str, str] = {}
    templates: list[RunbookTemplate] = []
    for file, template in parsed:
        if template.id in seen:
            message = f"duplicate runbook id {template.id!r} (first defined in {seen[template.id]})"
            problems.append(_problem(template.source, "id", message))
        elif file.stem != template.id:
            problems.append(_name_mismatch(file, template.id))
        else:
            templates.append(template)
        seen.setdefault(template.id, template.source)
    templates.sort(key=lambda t: t.id)
    return templates, problems


def runbook_files(path: Path | str) -> list[Path]:
    return sorted(
        p for p in Path(path).glob("*.md") if p.is_file() and p.name.lower() not in _IGNORED_FILES
    )


def load_file(path: Path | str) -> RunbookTemplate:
    """Load one runbook; the file name must be `<id>.md`. Raises RunbookLoadError."""
    path = Path(path)
    template = parse_runbook(path.read_bytes(), source=str(path))
    if path.stem != template.id:
        raise RunbookLoadError([_name_mismatch(path, template.id)])
    return template


def _name_mismatch(path: Path, runbook_id: str) -> Problem:
    # One file per id, named after it, so `runbooks/<id>.md` is where to look.
    return _problem(str(path), "id", f"id {runbook_id!r} must match the file name {path.name!r}")


def parse_runbook(data: bytes, *, source: str) -> RunbookTemplate:
    """Parse and fully validate one runbook's bytes. Raises RunbookLoadError."""
    try:
        text = data.decode("utf-8").replace("\r\n", "\n")
    except UnicodeDecodeError as exc:
        raise RunbookLoadError([_problem(source, "file", f"not UTF-8: {exc}")]) from exc
    raw_meta, body, body_line = _split_front_matter(text, source=source)
    meta = _validate_front_matter(raw_meta, source=source)
    overview, sections, problems = _split_body(body, first_line=body_line, source=source)
    problems += _match_steps(meta, sections, source=source)
    if not overview.text:
        problems.append(_problem(source, "overview", "the body must start with an overview"))
    if problems:
        raise RunbookLoadError(problems)
    problems += check_template(overview.text, source=source, field="overview", line=overview.line)
    for phase_steps in meta.steps.values():
        for spec in phase_steps:
            section = sections[spec.id]
            field = f"steps.{spec.id}.instructions"
            problems += check_template(section.text, source=source, field=field, line=section.line)
    if problems:
        raise RunbookLoadError(problems)
    return RunbookTemplate(
        id=meta.id,
        title=meta.title,
        version=meta.version,
        applies_to=tuple(meta.applies_to),
        severity_min=meta.severity_min,
        overview=overview.text,
        phases={
            phase: tuple(
                Step(**spec.model_dump(), instructions=sections[spec.id].text)
                for spec in meta.steps[phase]
            )
            for phase in PHASE_ORDER
            if meta.steps.get(phase)
        },
        content_hash=hashlib.sha256(data).hexdigest(),
        source=source,
    )


def _split_front_matter(text: str, *, source: str) -> tuple[Any, str, int]:
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise RunbookLoadError(
            [_problem(source, "front matter", "must start with a '---' line", 1)]
        )
    end = next((i for i, line in enumerate(lines) if i and line.strip() == "---"), None)
    if end is None:
        raise RunbookLoadError([_problem(source, "front matter", "no closing '---' line", 1)])
    try:
        meta = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = mark.line + 2 if mark is not None else None  # +2: the '---' line, 1-based
        problem = _problem(source, "front matter", f"invalid YAML: {exc}", at)
        raise RunbookLoadError([problem]) from exc
    return meta, "\n".join(lines[end + 1 :]), end + 2


def _validate_front_matter(raw: Any, *, source: str) -> FrontMatter:
    if not isinstance(raw, dict):
        raise RunbookLoadError([_problem(source, "front matter", "must be a YAML mapping", 2)])
    try:
        return FrontMatter.model_validate(raw)
    except ValidationError as exc:
        raise RunbookLoadError(
            [_problem(source, _loc(err["loc"]), err["msg"]) for err in exc.errors()]
        ) from exc


def _split_body(
    body: str, *, first_line: int, source: str
) -> tuple[_Section, dict[str, _Section], list[Problem]]:
    chunks = list(_chunks(body.split("\n"), first_line=first_line))
    overview = chunks[0][1]
    sections: dict[str, _Section] = {}
    problems: list[Problem] = []
    for step_id, section in chunks[1:]:
        assert step_id is not None  # only the first chunk is the overview
        if step_id in sections:
            problems.append(
                _problem(
                    source,
                    f"steps.{step_id}",
                    "two '## step:' sections for this id",
                    section.heading_line,
                )
            )
        sections[step_id] = section
    return overview, sections, problems


def _chunks(lines: list[str], *, first_line: int) -> Iterator[tuple[str | None, _Section]]:
    """Yield (step id, or None for the overview; section).

    `## step:` lines inside code fences are instructions, not headings.
    """
    current: str | None = None
    start, fence = first_line, ""
    buffer: list[str] = []
    heading_line: int | None = None
    for number, line in enumerate(lines, start=first_line):
        marker = _FENCE.match(line)
        if marker and (not fence or marker.group(1).startswith(fence)):
            fence = "" if fence else marker.group(1)
        heading = None if fence else _STEP_HEADING.match(line)
        if heading:
            yield current, _section(buffer, start, heading_line)
            current, start, buffer, heading_line = heading.group(1), number + 1, [], number
        else:
            buffer.append(line)
    yield current, _section(buffer, start, heading_line)


def _section(lines: list[str], start: int, heading_line: int | None) -> _Section:
    # Report lines from the first non-blank one, where template line 1 really is.
    while lines and not lines[0].strip():
        lines, start = lines[1:], start + 1
    return _Section("\n".join(lines).strip(), start, heading_line)


def _match_steps(meta: FrontMatter, sections: dict[str, _Section], *, source: str) -> list[Problem]:
    problems: list[Problem] = []
    declared: dict[str, str] = {}
    for phase, steps in meta.steps.items():
        for spec in steps:
            if spec.id in declared:
                problems.append(
                    _problem(
                        source,
                        f"steps.{phase.value}.{spec.id}",
                        f"duplicate step id {spec.id!r} (also in {declared[spec.id]})",
                    )
                )
            declared.setdefault(spec.id, phase.value)
            if spec.id not in sections:
                problems.append(
                    _problem(
                        source,
                        f"steps.{phase.value}.{spec.id}",
                        f"no '## step: {spec.id}' section with its instructions",
                    )
                )
            elif not sections[spec.id].text:
                problems.append(
                    _problem(
                        source,
                        f"steps.{spec.id}.instructions",
                        "instructions are empty",
                        sections[spec.id].line,
                    )
                )
    for step_id, section in sections.items():
        if step_id not in declared:
            problems.append(
                _problem(
                    source,
                    f"steps.{step_id}",
                    "'## step:' section for a step not declared in the front matter",
                    section.heading_line,
                )
            )
    return problems


def _loc(loc: tuple[int | str, ...]) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else str(p) for p in loc]
    return ".".join(parts).replace(".[", "[")


def _problem(source: str, field: str, message: str, line: int | None = None) -> Problem:
    return Problem(file=source, field=field, message=message, line=line)
