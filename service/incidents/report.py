"""The post-incident report (Markdown) and the timeline's API shape."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auditlog.chain import read_head
from service.auditlog.models import LogRecord
from service.improvements import service as improvements
from service.incidents import entity_store, queries, runbook
from service.incidents import evidence as evidence_mod
from service.incidents.custody import iso
from service.incidents.models import Incident, TimelineEntry
from service.incidents.schemas import Actor, TimelineOut
from service.runbooks import csf

_EVIDENCE_LIMIT = 10_000


def timeline_out(entry: TimelineEntry) -> TimelineOut:
    return TimelineOut(
        id=entry.id,
        at=entry.at,
        actor=Actor(type=entry.actor_type, id=entry.actor_id, name=entry.actor_name),
        kind=entry.kind,
        changes=entry.changes,
        body=entry.body,
        details=entry.details,
        log_seq=entry.log_seq,
    )


# C0/C1 controls (ANSI escapes start with ESC) and the bidi overrides of "Trojan Source":
# a report is read in terminals and renderers that would act on them.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# The punctuation that opens links, images, emphasis, code spans and table cells anywhere
# in a line; HTML specials become entities so no renderer sees a tag or an autolink.
_INLINE = re.compile(r"([\\`*_\[\]()|~!])")
# Markers that only count at the start of a line: headings, lists, quotes, setext rules.
_LINE_START = re.compile(r"^(\s*\d*)([#>+=.)-])")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def text(value: Any) -> str:
    """User-supplied text made inert for Markdown and HTML, on one line."""
    cleaned = _CONTROL.sub("", str(value)).replace("\r", " ").replace("\n", " ")
    escaped = _LINE_START.sub(r"\1\\\2", _INLINE.sub(r"\\\1", cleaned))
    return "".join(_HTML.get(ch, ch) for ch in escaped)


def cell(value: Any) -> str:
    """A Markdown table cell: user text escaped, so pipes and newlines cannot break the table."""
    if value is None or value == "" or value == []:
        return "-"
    if isinstance(value, datetime):
        value = iso(value)
    if isinstance(value, list):
        value = ", ".join(map(str, value))
    if isinstance(value, dict):
        value = ", ".join(f"{k}={v}" for k, v in value.items())
    return text(value)


def duration(start: datetime, end: datetime | None) -> str:
    if end is None:
        return "-"
    seconds = int((end - start).total_seconds())
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h {rest // 60:02d}m {rest % 60:02d}s"


def describe(entry: TimelineEntry) -> str:
    """One table cell; every value that came from a user or an event is escaped."""
    parts = [f"{cell(k)}: {cell(v['from'])} -> {cell(v['to'])}" for k, v in entry.changes.items()]
    details = entry.details
    if entry.kind == "open":
        attached = details.get("runbook") or {}
        parts.insert(0, f"opened with {len(details.get('seqs', []))} evidence events")
        if attached:
            parts.append(f"runbook {cell(attached['runbook_id'])}")
    elif entry.kind == "evidence":
        parts.insert(0, f"evidence added: seq {cell(details.get('seqs'))}")
    elif entry.kind == "runbook.step":
        parts.insert(
            0, f"step {cell(details['step_id'])}: {cell(details['from'])} -> {cell(details['to'])}"
        )
    elif entry.kind == "runbook.swap":
        parts.insert(0, f"runbook swapped to {cell(details['to']['runbook_id'])}")
    if entry.body:
        parts.append(f"“{cell(entry.body)}”")
    return "; ".join(parts)


def markdown(*, session: Session, incident: Incident) -> str:
    out = queries.one(session=session, incident=incident)
    lines = [f"# {out.id}: {text(out.title)}", "", "## Summary", "", "| field | value |"]
    lines.append("|---|---|")
    summary = {
        "status": out.status.value,
        "severity": out.severity.value,
        "assignee": out.assignee,
        "rule": out.rule_id,
        "group": out.group,
        "tags": out.tags,
        "category": out.category.value if out.category else None,
        "duplicate of": out.duplicate_of,
        "first seen": out.first_seen,
        "last seen": out.last_seen,
        "events": out.event_count,
        "opened": f"{iso(out.opened_at)} by {out.opened_by}",
        "time to acknowledge": duration(out.opened_at, out.acknowledged_at),
        "time to contain": duration(out.opened_at, out.contained_at),
        "time to resolve": duration(out.opened_at, out.resolved_at),
    }
    lines += [f"| {k} | {cell(v)} |" for k, v in summary.items()]
    if out.description:
        # Kept as paragraphs, each line escaped: a description cannot forge a section.
        lines += ["", *(f"{text(line)}  " for line in out.description.splitlines())]
    lines += ["", "## Timeline", "", "| # | when | who | what | log seq |", "|---|---|---|---|---|"]
    entries, _ = queries.timeline(session=session, number=incident.number, limit=1_000_000)
    for n, entry in enumerate(entries, 1):
        lines.append(
            f"| {n} | {iso(entry.at)} | {cell(entry.actor_name)} | {cell(entry.kind)}: "
            f"{describe(entry)} | {entry.log_seq} |"
        )
    lines += _entities_section(session=session, number=incident.number)
    lines += _evidence_section(session=session, incident=incident)
    lines += _runbook_section(session=session, number=incident.number)
    lines += _csf_section(session=session, incident=incident)
    return "\n".join(lines) + "\n"


def _csf_section(*, session: Session, incident: Incident) -> list[str]:
    """What was done, by whom and when, per CSF 2.0 Function (as SP 800-61r3 organizes
    incident response), and which subcategories the incident exercised."""
    instance = runbook.get(session=session, number=incident.number)
    steps = [s for p in instance.instance["phases"] for s in p["steps"]] if instance else []
    done = [s for s in steps if s["status"] == "done"]
    opened_by = "the correlation engine" if incident.rule_id else incident.opened_by
    lines = ["", "## NIST CSF 2.0 (SP 800-61 Rev. 3)", ""]
    if instance is not None and not any(s.get("csf") for s in steps):
        lines += ["The runbook attached to this incident predates CSF 2.0 step mapping.", ""]
    exercised: set[str] = {"DE.AE-02"} | ({"DE.AE-03"} if incident.rule_id else set())
    for function in csf.FUNCTION_ORDER:
        rows = [s for s in done if any(csf.function_of(i) == function for i in s.get("csf", []))]
        lines += [f"### {function}", ""]
        if function == "Detect":
            lines.append(f"- Opened {iso(incident.opened_at)} by {cell(opened_by)}: "
                         "DE.AE-02" + (", DE.AE-03" if incident.rule_id else ""))  # fmt: skip
        for step in rows:
            ids = [i for i in step["csf"] if csf.function_of(i) == function]
            exercised.update(step["csf"])
            lines.append(
                f"- {cell(step['title'])} (`{step['id']}`): {', '.join(ids)}; "
                f"by {cell(step['done_by'])} at {cell(step['done_at'])}"
            )
        if function == "Identify":
            for item in improvements.of_incident(session=session, number=incident.number):
                lines.append(
                    f"- Improvement {item.public_id} ({item.kind}, {item.status}): "
                    f"{text(item.title)}; by {cell(item.created_by)} at {cell(item.created_at)}"
                )
        if lines[-1] == "":
            lines.append("Nothing recorded.")
        lines.append("")
    lines.append("Subcategories exercised:")
    lines += [f"- {i}: {csf.SUBCATEGORIES[i].title}" for i in sorted(exercised)]
    return lines


def _entities_section(*, session: Session, number: int) -> list[str]:
    entities = entity_store.of_incident(session=session, number=number)
    lines = ["", "## Entities", ""]
    if not entities:
        return [*lines, "No entities in the evidence."]
    lines += ["| type | value | events | first seen | last seen |", "|---|---|---|---|---|"]
    lines += [
        f"| {e['type']} | {cell(e['value'])} | {e['count']} | {cell(e['first_seen'])} "
        f"| {cell(e['last_seen'])} |"
        for e in entities
    ]
    return lines


def _evidence_section(*, session: Session, incident: Incident) -> list[str]:
    items, _ = evidence_mod.page(
        session=session, number=incident.number, after_seq=0, limit=_EVIDENCE_LIMIT
    )
    anchor_hash = session.scalar(select(LogRecord.hash).where(LogRecord.seq == incident.anchor_seq))
    head_seq, head_hash = read_head(session)
    lines = [
        "",
        "## Evidence",
        "",
        f"Anchored at open to log seq {incident.anchor_seq} (hash `{anchor_hash or '-'}`); "
        f"log head now seq {head_seq} (hash `{head_hash}`).",
    ]
    if incident.anchor_checkpoint:
        lines.append(f"Checkpoint at open: `{cell(incident.anchor_checkpoint)}`.")
    lines += ["", "| seq | time | action | outcome | actor | resource | via | hash |"]
    lines.append("|---|---|---|---|---|---|---|---|")
    for e in items:
        actor = (e.get("actor") or {}).get("id")
        resource = e.get("resource") or {}
        res = f"{resource.get('type', '')}:{resource.get('id', '')}" if resource else None
        lines.append(
            f"| {e['seq']} | {cell(e['time'])} | {cell(e['action'])} | {cell(e['outcome'])} "
            f"| {cell(actor)} | {cell(res)} | {cell(e['via'])} | `{e['hash']}` |"
        )
    return lines


def _runbook_section(*, session: Session, number: int) -> list[str]:
    instance = runbook.get(session=session, number=number)
    if instance is None:
        return ["", "## Runbook", "", "No runbook attached."]
    body = runbook.to_out(instance)
    progress = body["progress"]
    lines = [
        "",
        f"## Runbook: {text(body['title'])} (`{cell(body['runbook_id'])}`)",
        "",
        f"Pinned to template content hash `{body['content_hash']}`; "
        f"{progress['done']} done, {progress['skipped']} skipped, {progress['open']} open "
        f"of {progress['total']} steps.",
        "",
        "| phase | step | required | status | by | at | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for phase in body["phases"]:
        for step in phase["steps"]:
            lines.append(
                f"| {phase['phase']} | {cell(step['title'])} (`{step['id']}`) | "
                f"{'yes' if step['required'] else 'no'} | {step['status']} | "
                f"{cell(step['done_by'])} | {cell(step['done_at'])} | {cell(step['note'])} |"
            )
    return lines
