"""`custody incidents audit`: rebuild an incident from the log alone, compare with the tables.

The log is hash-chained and append-only (and `custody verify` proves it); the incident
tables are ordinary rows. Replaying the incident's records that Custody wrote itself
(server origin; a token's record is never trusted) gives what the incident must look
like; any difference is an edit that bypassed the service. A record that cannot be
read is reported like any other difference: the log is append-only, so a crash on it
would be a crash forever.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auditlog.models import LogPayload, LogRecord
from service.auditlog.trust import server_written
from service.incidents.custody import TRACKED, snapshot
from service.incidents.errors import IncidentNotFound
from service.incidents.evidence import linked_seqs
from service.incidents.models import Incident, RunbookInstance, TimelineEntry
from service.incidents.service import parse_id


@dataclass
class Replayed:
    state: dict[str, Any] | None = None
    evidence: set[int] = field(default_factory=set)
    comments: list[str] = field(default_factory=list)
    runbook: dict[str, Any] | None = None
    steps: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    log_seqs: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class AuditReport:
    incident_id: str
    records: int
    differences: list[str]

    @property
    def ok(self) -> bool:
        return not self.differences


def _records(session: Session, public_id: str) -> list[tuple[int, str, str | None]]:
    rows = session.execute(
        select(LogRecord.seq, LogRecord.action, LogPayload.body)
        .outerjoin(LogPayload, LogPayload.seq == LogRecord.seq)
        .where(
            server_written(),
            LogRecord.resource_type == "incident",
            LogRecord.resource_id == public_id,
        )
        .order_by(LogRecord.seq)
    )
    return [(seq, action, body) for seq, action, body in rows]


class Malformed(Exception):
    """A log record whose attributes do not have the shape Custody writes."""


def _seqs(value: Any) -> list[int]:
    if not isinstance(value, list) or not all(type(v) is int for v in value):
        raise Malformed("seqs is not a list of integers")
    return value


def _fold(out: Replayed, action: str, attrs: dict[str, Any]) -> None:
    """Apply one record to `out`; raises Malformed (or KeyError/TypeError) when the
    record lacks what its action needs. The caller applies it to a copy."""
    if action == "incident.open":
        if not isinstance(attrs["snapshot"], dict):
            raise Malformed("snapshot is not an object")
        out.state = dict(attrs["snapshot"])
        out.runbook = attrs.get("runbook")
    else:
        assert out.state is not None
        changes = attrs.get("changes", {})
        if not isinstance(changes, dict):
            raise Malformed("changes is not an object")
        for name, (before, after) in changes.items():
            if out.state.get(name) != before:
                out.notes.append(
                    f"{name} changes from {before!r}, but the log had it at {out.state.get(name)!r}"
                )
            out.state[name] = after
        out.state["version"] = attrs["version"]
    out.evidence.update(_seqs(attrs.get("seqs", [])))
    if action == "incident.comment":
        out.comments.append(str(attrs.get("body", "")))
    elif action == "incident.runbook.step":
        out.steps[str(attrs["step_id"])] = (attrs["to"], attrs.get("body"))
    elif action == "incident.runbook.swap":
        out.runbook, out.steps = attrs["to"], {}


def replay(records: list[tuple[int, str, str | None]], problems: list[str]) -> Replayed:
    """Fold the log records of one incident into its expected state."""
    out = Replayed()
    for seq, action, body in records:
        out.log_seqs.append(seq)
        if body is None:
            problems.append(f"log seq {seq} ({action}): payload erased, cannot be checked")
            continue
        if action != "incident.open" and out.state is None:
            problems.append(f"log seq {seq} ({action}) comes before incident.open")
            continue
        trial = Replayed(
            state=None if out.state is None else dict(out.state),
            evidence=set(out.evidence),
            comments=list(out.comments),
            runbook=out.runbook,
            steps=dict(out.steps),
        )
        try:
            attrs = orjson.loads(body)["attributes"]
            if not isinstance(attrs, dict):
                raise Malformed("attributes is not an object")
            _fold(trial, action, attrs)
        except (Malformed, KeyError, TypeError, ValueError) as exc:
            reason = exc if isinstance(exc, Malformed) else f"{type(exc).__name__}: {exc}"
            problems.append(f"log seq {seq} ({action}): malformed record, skipped ({reason})")
            continue
        problems.extend(f"log seq {seq}: {note}" for note in trial.notes)
        trial.notes, trial.log_seqs = [], out.log_seqs
        out = trial
    return out


def audit_incident(*, session: Session, incident_id: str) -> AuditReport:
    number = parse_id(incident_id)
    public_id = f"INC-{number}"
    problems: list[str] = []
    records = _records(session, public_id)
    incident = session.get(Incident, number)
    if incident is None and not records:
        raise IncidentNotFound(f"No incident {public_id}: neither the tables nor the log have it")
    expected = replay(records, problems)
    if incident is None or expected.state is None:
        if incident is not None or records:
            problems.append(
                f"{public_id}: the tables have it but the log does not"
                if incident is not None
                else f"{public_id}: the log has it but the tables do not"
            )
        return AuditReport(public_id, len(records), problems)
    actual = snapshot(incident)
    for name in TRACKED:
        if actual[name] != expected.state.get(name):
            problems.append(
                f"{name}: table says {actual[name]!r}, log says {expected.state.get(name)!r}"
            )
    _compare_sets(
        "evidence seqs", linked_seqs(session=session, number=number), expected.evidence, problems
    )
    entries = list(
        session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.incident_number == number)
            .order_by(TimelineEntry.id)
        )
    )
    if [e.log_seq for e in entries] != expected.log_seqs:
        problems.append(
            f"timeline: entries point at log seqs {[e.log_seq for e in entries]}, "
            f"log has {expected.log_seqs}"
        )
    comments = [e.body or "" for e in entries if e.kind == "comment"]
    if comments != expected.comments:
        problems.append("comments: the timeline's comments differ from the log's")
    _compare_runbook(session.get(RunbookInstance, number), expected, problems)
    return AuditReport(public_id, len(records), problems)


def _compare_sets(what: str, actual: set[int], expected: set[int], problems: list[str]) -> None:
    if actual != expected:
        extra, missing = sorted(actual - expected), sorted(expected - actual)
        problems.append(f"{what}: not in the log {extra}, missing from the tables {missing}")


def _compare_runbook(
    instance: RunbookInstance | None, expected: Replayed, problems: list[str]
) -> None:
    actual = (
        {"runbook_id": instance.runbook_id, "content_hash": instance.content_hash}
        if instance
        else None
    )
    if actual != expected.runbook:
        problems.append(f"runbook: table says {actual}, log says {expected.runbook}")
        return
    if instance is None:
        return
    for phase in instance.instance["phases"]:
        for step in phase["steps"]:
            status, note = expected.steps.get(step["id"], ("open", None))
            if (step["status"], step.get("note")) != (status, note):
                problems.append(
                    f"runbook step {step['id']}: table says {step['status']} "
                    f"({step.get('note')!r}), log says {status} ({note!r})"
                )
