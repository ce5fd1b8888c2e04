"""Progress of a runbook instance and step update rules."""

from __future__ import annotations

import pytest

from service.runbooks.errors import StepUpdateRejected
from service.runbooks.progress import check_step_update, iter_steps, progress

PHASES = [
    {"phase": "analysis", "steps": [
        {"id": "a1", "required": True, "status": "done"},
        {"id": "a2", "required": True, "status": "open"},
        {"id": "a3", "required": False, "status": "skipped"},
    ]},
    {"phase": "post_incident", "steps": [
        {"id": "review", "required": True},  # no status yet: open
        {"id": "extra", "required": False, "status": "open"},
    ]},
]  # fmt: skip


def test_progress_counts_states_and_lists_required_open_steps() -> None:
    assert progress(iter_steps(PHASES)) == {
        "done": 1,
        "skipped": 1,
        "open": 3,
        "total": 5,
        "required_open": ["a2", "review"],
        "percent": 40,
    }


def test_progress_of_a_finished_and_an_empty_instance() -> None:
    done = [{"id": "x", "required": True, "status": "done"}]
    assert progress(done)["percent"] == 100
    assert progress([]) == {
        "done": 0, "skipped": 0, "open": 0, "total": 0, "required_open": [], "percent": 100,
    }  # fmt: skip


def test_unknown_status_is_an_error() -> None:
    with pytest.raises(ValueError, match="finished"):
        progress([{"id": "x", "status": "finished"}])


@pytest.mark.parametrize(
    ("step", "status", "note", "error"),
    [
        ({"id": "s", "required": True}, "skipped", "n/a", "cannot be skipped"),
        ({"id": "s", "required": False}, "skipped", " ", "needs a note saying why"),
        ({"id": "s", "requires_note": True}, "done", None, "needs a note to be marked done"),
        ({"id": "s", "required": False}, "skipped", "not applicable", None),
        ({"id": "s", "requires_note": True}, "done", "reviewed with team", None),
        ({"id": "s", "required": True}, "open", None, None),
    ],
)
def test_step_update_rules(
    step: dict[str, object], status: str, note: str | None, error: str | None
) -> None:
    if error is None:
        check_step_update(step=step, status=status, note=note)
    else:
        with pytest.raises(StepUpdateRejected, match=error):
            check_step_update(step=step, status=status, note=note)
