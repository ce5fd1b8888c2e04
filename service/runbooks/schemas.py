"""Pydantic models and plain-data shapes for runbook templates and rendered instances."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, TypedDict

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PositiveInt

from service.runbooks.csf import check_id

# Step and runbook ids appear in URLs (`/v1/incidents/{id}/runbook/steps/{step_id}`)
# and in rule files, so they are restricted to a slug alphabet.
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=80)]
# A NIST CSF 2.0 subcategory id that incident work fulfils, e.g. RS.AN-03.
CsfId = Annotated[str, AfterValidator(check_id)]


class Phase(StrEnum):
    """Incident handling phases, in the order responders work them (SP 800-61's; each
    step also names the CSF 2.0 subcategories it fulfils, as Rev. 3 organizes them)."""

    ANALYSIS = "analysis"
    CONTAINMENT = "containment"
    ERADICATION = "eradication"
    RECOVERY = "recovery"
    POST_INCIDENT = "post_incident"


PHASE_ORDER: tuple[Phase, ...] = tuple(Phase)


class Severity(StrEnum):
    """Incident severities; `rank` orders them for `severity_min`."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class StepStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    SKIPPED = "skipped"


class StepSpec(BaseModel):
    """A step as declared in the front matter (its instructions live in the body)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug
    title: str = Field(min_length=1, max_length=200)
    # Default to required: forgetting the key must not silently make a step optional.
    required: bool = True
    requires_note: bool = False
    # What the step fulfils, for auditors (SP 800-61r3 organizes response by CSF 2.0).
    csf: list[CsfId] = Field(min_length=1, max_length=8)


class Step(StepSpec):
    """A step with its instructions: a Jinja2 template producing Markdown."""

    instructions: str = Field(min_length=1)


class FrontMatter(BaseModel):
    """The YAML front matter of a runbook file, exactly as authored."""

    model_config = ConfigDict(extra="forbid")

    id: Slug
    title: str = Field(min_length=1, max_length=200)
    version: PositiveInt
    applies_to: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    severity_min: Severity | None = None
    steps: dict[Phase, list[StepSpec]] = Field(min_length=1)


class RunbookTemplate(BaseModel):
    """A loaded, validated runbook. `content_hash` pins instances to these exact bytes."""

    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    version: int
    applies_to: tuple[str, ...]
    severity_min: Severity | None
    overview: str
    # Only phases that have steps, in PHASE_ORDER.
    phases: dict[Phase, tuple[Step, ...]]
    content_hash: str
    source: str

    def steps(self) -> Iterator[tuple[Phase, Step]]:
        for phase, steps in self.phases.items():
            for step in steps:
                yield phase, step


class Problem(BaseModel):
    """One finding of the loader or the checker, pointing at a file and a field."""

    model_config = ConfigDict(frozen=True)

    file: str
    field: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.field}: {self.message}"


# Rendered instances are plain data (JSON-ready) because the incidents domain stores
# them as-is and pins them to the template's content hash.
class RenderedStep(TypedDict):
    id: str
    title: str
    required: bool
    requires_note: bool
    csf: list[str]
    instructions: str


class RenderedPhase(TypedDict):
    phase: str
    steps: list[RenderedStep]


class RenderedRunbook(TypedDict):
    runbook_id: str
    content_hash: str
    title: str
    overview: str
    phases: list[RenderedPhase]


class Progress(TypedDict):
    done: int
    skipped: int
    open: int
    total: int
    required_open: list[str]
    percent: int
