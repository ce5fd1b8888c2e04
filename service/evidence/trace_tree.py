"""One agent run as a tree: the records of a trace ordered parent before children.

A record's node is its span (``attributes.span_id``); its parent is the record of the
span named by ``attributes.parent_span_id``. A log record (``attributes.otel.kind`` =
``log``) hangs under the span it was emitted in. A record whose parent is not in the log
(not shipped, or its payload erased, which takes the span ids with it) becomes a root
marked ``orphan``. Siblings are in event-time order, then seq.
"""

from __future__ import annotations

from typing import Any

#: Actions that start a (sub-)agent: each one on a path adds a level of delegation.
AGENT_STEPS = frozenset({"agent.invoke", "agent.delegate"})


def _str(attributes: dict[str, Any], key: str) -> str | None:
    value = attributes.get(key)
    return value if isinstance(value, str) and value else None


def _kind(attributes: dict[str, Any]) -> Any:
    otel = attributes.get("otel")
    return otel.get("kind") if isinstance(otel, dict) else None


def tree_order(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``events`` (in seq order) in depth-first tree order, each with a ``tree`` object
    ``{depth, agent_depth, agents, parent_seq, span_id, parent_span_id, orphan}``; and a summary
    for the trailer."""
    owner: dict[str, dict[str, Any]] = {}
    for event in events:
        attrs = event.get("attributes") or {}
        span = _str(attrs, "span_id")
        kind = (
            (attrs.get("otel") or {}).get("kind") if isinstance(attrs.get("otel"), dict) else None
        )
        if span and kind != "log" and span not in owner:
            owner[span] = event
    children: dict[int, list[dict[str, Any]]] = {}
    roots: list[dict[str, Any]] = []
    orphans: list[int] = []
    parent_of: dict[int, int | None] = {}
    for event in events:
        attrs = event.get("attributes") or {}
        span, parent_span = _str(attrs, "span_id"), _str(attrs, "parent_span_id")
        wanted = span if _kind(attrs) == "log" else parent_span
        parent = owner.get(wanted) if wanted else None
        if parent is not None and parent is not event:
            children.setdefault(parent["seq"], []).append(event)
            parent_of[event["seq"]] = parent["seq"]
        else:
            roots.append(event)
            parent_of[event["seq"]] = None
            if wanted and parent is None:
                orphans.append(event["seq"])
    order = sorted(roots, key=_when)
    out: list[dict[str, Any]] = []
    max_depth = max_agent = 0
    stack: list[tuple[dict[str, Any], int, tuple[str, ...]]] = [
        (event, 0, ()) for event in reversed(order)
    ]
    seen: set[int] = set()
    while stack:
        event, depth, chain = stack.pop()
        if event["seq"] in seen:
            continue
        seen.add(event["seq"])
        attrs = event.get("attributes") or {}
        if event["action"] in AGENT_STEPS:
            chain = (*chain, str((event.get("actor") or {}).get("id")))
        agent_depth = len(chain)
        max_depth, max_agent = max(max_depth, depth), max(max_agent, agent_depth)
        event["tree"] = {
            "depth": depth,
            "agent_depth": agent_depth,
            # The agents that handed the work down to here, outermost first.
            "agents": list(chain),
            "parent_seq": parent_of[event["seq"]],
            "span_id": _str(attrs, "span_id"),
            "parent_span_id": _str(attrs, "parent_span_id"),
            "orphan": event["seq"] in orphans,
        }
        out.append(event)
        for child in sorted(children.get(event["seq"], []), key=_when, reverse=True):
            stack.append((child, depth + 1, chain))
    summary = {
        "roots": [event["seq"] for event in order],
        "orphans": orphans,
        "nodes": len(out),
        "max_depth": max_depth,
        "max_agent_depth": max_agent,
    }
    return out, summary


def _when(event: dict[str, Any]) -> tuple[str, int]:
    return (event["time"], event["seq"])
