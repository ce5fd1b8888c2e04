"""A rendered runbook (or a stored instance) as one Markdown document."""

from __future__ import annotations

from typing import Any


def instance_markdown(instance: dict[str, Any]) -> str:
    pin = f"`{instance['runbook_id']}` (content hash `{instance['content_hash'][:16]}`)"
    lines = [f"# {instance['title']}", "", pin, "", instance["overview"]]
    for phase in instance["phases"]:
        lines += ["", f"## {phase['phase'].replace('_', ' ').title()}"]
        for step in phase["steps"]:
            flags = "required" if step["required"] else "optional"
            status = step.get("status")
            mark = {"done": "[x]", "skipped": "[-]"}.get(status or "", "[ ]")
            lines += ["", f"### {mark} {step['title']} (`{step['id']}`, {flags})", ""]
            lines.append(step["instructions"])
            if status and status != "open":
                lines += ["", f"_{status} by {step.get('done_by')} at {step.get('done_at')}_"]
                if step.get("note"):
                    lines.append(f"> {step['note']}")
    return "\n".join(lines) + "\n"
