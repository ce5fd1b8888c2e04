"""Draw a traced agent run (replay lines in tree order) as a rich tree."""

from __future__ import annotations

from typing import Any

from rich.markup import escape


def _label(node: dict[str, Any]) -> str:
    actor = node.get("actor") or {}
    resource = node.get("resource") or {}
    attributes = node.get("attributes") or {}
    mark = "[green]✓[/green]" if node.get("verified") else "[red]✗ NOT VERIFIED[/red]"
    parts = [
        f"#{node['seq']}",
        node["time"],
        f"[bold]{escape(node['action'])}[/bold]",
        escape(f"{actor.get('type', '?')}:{actor.get('id', '?')}"),
    ]
    if resource:
        parts.append("→ " + escape(f"{resource.get('type', '?')}:{resource.get('id', '?')}"))
    if node.get("outcome") not in (None, "success", "unknown"):
        parts.append(f"[yellow]{escape(node['outcome'])}[/yellow]")
    if who := attributes.get("on_behalf_of"):
        parts.append(escape(f"for {who}"))
    if node.get("erased"):
        parts.append("[dim](payload erased)[/dim]")
    if (node.get("tree") or {}).get("orphan"):
        parts.append("[dim](parent not in the log)[/dim]")
    parts.append(mark)
    return " ".join(parts)


def draw_tree(trace_id: str, nodes: list[dict[str, Any]]) -> list[str]:
    """Rich-markup lines, one per record, with tree guides. Lines are never cut: a
    terminal-wide tree widget would crop the labels an investigator needs."""
    children: dict[int | None, list[dict[str, Any]]] = {}
    for node in nodes:  # tree order: parents come before their children
        children.setdefault((node.get("tree") or {}).get("parent_seq"), []).append(node)
    lines = [f"trace {escape(trace_id)}"]
    stack = [
        (node, "", i == len(children.get(None, [])) - 1)
        for i, node in enumerate(children.get(None, []))
    ]
    stack.reverse()
    while stack:
        node, indent, last = stack.pop()
        lines.append(f"{indent}{'└── ' if last else '├── '}{_label(node)}")
        kids = children.get(node["seq"], [])
        deeper = indent + ("    " if last else "│   ")
        stack.extend(
            (kid, deeper, i == len(kids) - 1) for i, kid in reversed(list(enumerate(kids)))
        )
    return lines
