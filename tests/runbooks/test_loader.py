"""Parsing runbook files: layout, schema errors, duplicates, content hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.runbooks.errors import RunbookLoadError
from service.runbooks.loader import load_dir, load_file, parse_runbook
from service.runbooks.schemas import Phase
from tests.runbooks.conftest import runbook_text, write_runbook


def problems_of(text: str) -> list[str]:
    with pytest.raises(RunbookLoadError) as caught:
        parse_runbook(text.encode(), source="rb.md")
    return [str(p) for p in caught.value.problems]


def test_parses_structure_overview_and_step_sections() -> None:
    template = parse_runbook(runbook_text().encode(), source="sample.md")

    assert template.id == "sample"
    assert template.overview == "Overview for {{ incident.id }}."
    assert list(template.phases) == [Phase.ANALYSIS, Phase.POST_INCIDENT]
    look = template.phases[Phase.ANALYSIS][0]
    assert look.required is True  # the default
    assert look.requires_note is False
    assert look.instructions == "Replay `{{ group['actor.id'] | sh }}`."
    assert template.phases[Phase.POST_INCIDENT][0].requires_note is True


def test_step_heading_inside_a_code_fence_is_instructions() -> None:
    body = "Overview.\n\n## step: look\n```md\n## step: review\n```\n\n## step: review\nWrite it.\n"
    template = parse_runbook(runbook_text(body=body).encode(), source="sample.md")

    assert "## step: review" in template.phases[Phase.ANALYSIS][0].instructions


def test_content_hash_is_sha256_of_the_bytes_and_changes_with_the_file(tmp_path: Path) -> None:
    path = write_runbook(tmp_path)
    before = load_file(path).content_hash
    path.write_text(runbook_text().replace("Write the review.", "Write the review!"))
    after = load_file(path).content_hash

    assert before != after
    assert len(before) == 64
    import hashlib

    assert after == hashlib.sha256(path.read_bytes()).hexdigest()


def test_invalid_phase_is_reported_with_the_field() -> None:
    steps = (
        "steps:\n  contaiment:\n    - {id: look, title: Look}\n"
        "  post_incident:\n    - {id: review, title: R}\n"
    )
    problems = problems_of(runbook_text(steps=steps))

    assert any("steps.contaiment" in p and "'containment'" in p for p in problems), problems


def test_duplicate_step_ids_across_phases_are_reported() -> None:
    steps = (
        "steps:\n  analysis:\n    - {id: look, title: Look, csf: [RS.AN-03]}\n"
        "  post_incident:\n    - {id: look, title: Again, csf: [ID.IM-03]}\n"
        "    - {id: review, title: R, csf: [ID.IM-03]}\n"
    )
    problems = problems_of(runbook_text(steps=steps))

    assert any("duplicate step id 'look'" in p for p in problems), problems


STEP = "steps:\n  analysis:\n    - {}\n"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"extra_meta": "severity-min: high\n"}, "severity-min: Extra inputs are not permitted"),
        ({"extra_meta": "severity_min: urgent\n"}, "severity_min"),
        ({"body": "Overview.\n\n## step: look\nx\n"}, "no '## step: review' section"),
        ({"body": "Overview.\n\n## step: look\nx\n## step: review\ny\n## step: extra\nz\n"},
         "rb.md:17: steps.extra: '## step:' section for a step not declared"),
        ({"body": "## step: look\nx\n## step: review\ny\n"}, "overview: the body must start"),
        ({"body": "Overview.\n\n## step: look\n\n## step: review\ny\n"}, "instructions are empty"),
        ({"steps": "steps: {}\n"}, "steps: Dictionary should have at least 1 item"),
        ({"steps": STEP.format("{id: Look!, title: x, csf: [RS.AN-03]}")}, "steps.analysis[0].id"),
        ({"steps": STEP.format("{id: look, title: x}")}, "steps.analysis[0].csf: Field required"),
        ({"steps": STEP.format("{id: look, title: x, csf: [RS.AN-09]}")},
         "steps.analysis[0].csf[0]: Value error, 'RS.AN-09' is not a CSF 2.0 subcategory for "
         "incident work"),
        ({"steps": STEP.format("{id: look, title: x, csf: [RS.RP-1]}")},
         "'RS.RP-1' is not a CSF 2.0 subcategory id (like RS.AN-03)"),
    ],
)  # fmt: skip
def test_schema_and_layout_errors_name_the_field(change: dict[str, str], expected: str) -> None:
    problems = problems_of(runbook_text(**change))

    assert any(expected in p for p in problems), problems


def test_yaml_error_and_missing_front_matter() -> None:
    assert any("rb.md:5: front matter: invalid YAML" in p for p in problems_of(
        "---\nid: x\ntitle: t\nversion: 1\nsteps: [\n---\nbody\n"
    ))  # fmt: skip
    assert any("must start with a '---' line" in p for p in problems_of("# just markdown\n"))


def test_template_problem_points_at_the_file_line() -> None:
    body = "Overview.\n\n## step: look\nfine\n{{ incident.titel }}\n\n## step: review\nok\n"
    problems = problems_of(runbook_text(body=body))

    # Front matter is 10 lines; `{{ incident.titel }}` is line 15 of the file.
    assert problems == [
        "rb.md:15: steps.look.instructions: does not render for the sample incident: "
        "'dict object' has no attribute 'titel'"
    ]


def test_template_needing_evidence_is_reported() -> None:
    body = "Overview.\n\n## step: look\n{{ evidence[0].seq }}\n\n## step: review\nok\n"
    problems = problems_of(runbook_text(body=body))

    assert "an incident without group values or evidence" in problems[0]


def test_load_dir_reports_duplicate_ids_and_bad_files_and_skips_readme(tmp_path: Path) -> None:
    write_runbook(tmp_path, "alpha")
    (tmp_path / "beta.md").write_text(runbook_text("alpha"))  # id clashes with alpha.md
    (tmp_path / "epsilon.md").write_text(runbook_text("eta"))  # id is not the file name
    (tmp_path / "gamma.md").write_text(runbook_text("gamma").replace("version: 1", "version: 0"))
    (tmp_path / "README.md").write_text("# not a runbook\n")
    (tmp_path / "delta.md").write_bytes(runbook_text("delta").encode())
    (tmp_path / "zeta.md").write_text(runbook_text("alpha").replace("id: alpha", "id: zeta"))

    templates, problems = load_dir(tmp_path)

    assert [t.id for t in templates] == ["alpha", "delta", "zeta"]
    messages = [str(p) for p in problems]
    assert any("beta.md: id: duplicate runbook id 'alpha'" in m for m in messages)
    assert any("gamma.md" in m and "version" in m for m in messages)
    assert any("epsilon.md: id: id 'eta' must match the file name" in m for m in messages)


def test_load_dir_reports_a_duplicate_runbook_id(tmp_path: Path) -> None:
    write_runbook(tmp_path, "alpha")
    (tmp_path / "alpha-copy.md").write_text(runbook_text("alpha"))

    templates, problems = load_dir(tmp_path)

    assert [t.id for t in templates] == ["alpha"]
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'alpha-copy.md'}: id: duplicate runbook id 'alpha' "
        f"(first defined in {tmp_path / 'alpha.md'})"
    ]
