"""The runbook instance of an incident: attach at open, track steps, swap.

service.runbooks is the template library (load, check, select, render); this module
is where a rendered template becomes part of an incident and its history.

Instances are stored rendered and pinned to the template's content hash; nothing here
re-renders an existing instance, so a template edited later never changes it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.errors import InvalidInput, NotFound
from service.incidents import evidence as evidence_mod
from service.incidents.custody import (
    Actor,
    diff,
    iso,
    now,
    record_update,
    snapshot,
)
from service.incidents.draft import IncidentLike
from service.incidents.models import Incident, RunbookInstance
from service.logging import get_logger
from service.runbooks.errors import NoRunbookFound, StepUpdateRejected
from service.runbooks.match import select_runbook
from service.runbooks.progress import check_step_update, iter_steps, progress
from service.runbooks.render import render_instance
from service.runbooks.schemas import RunbookTemplate, StepStatus

log = get_logger(__name__)
# Templates see at most this many evidence events (the evidence table is capped anyway).
RENDER_EVIDENCE = 200


class RunbookNotAttached(NotFound):
    title = "No runbook attached"


class StepNotFound(NotFound):
    title = "Runbook step not found"


class StepRejected(InvalidInput):
    title = "Step update rejected"


def render_for(
    *,
    session: Session,
    incident: IncidentLike,
    template: RunbookTemplate,
    evidence: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Render `template` for `incident` and add the tracking fields to every step.

    `evidence`: the incident's linked events in seq order when the caller has them in
    hand (an opening), else they are read back."""
    if evidence is None:
        seqs = sorted(evidence_mod.linked_seqs(session=session, number=incident.number))
        evidence = evidence_mod.records(session=session, seqs=seqs[:RENDER_EVIDENCE])
    context = {**snapshot(incident), "id": incident.public_id}
    rendered = render_instance(
        template,
        incident=context,
        group=incident.group,
        evidence=list(evidence[:RENDER_EVIDENCE]),
    )
    instance: dict[str, Any] = dict(rendered)
    for phase in instance["phases"]:
        for step in phase["steps"]:
            step.update(status="open", done_by=None, done_at=None, note=None, evidence=[])
    return instance


def instance_row(
    *,
    session: Session,
    incident: IncidentLike,
    templates: Sequence[RunbookTemplate],
    explicit_id: str | None,
    evidence: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """Select (explicit > applies_to > fallback) and render the runbook of a new
    incident: its `incident_runbooks` row, for the caller to insert; None if nothing
    fits. `evidence` as in `render_for`."""
    try:
        template = select_runbook(
            templates,
            explicit_id=explicit_id,
            rule_id=incident.rule_id,
            tags=incident.tags,
            severity=incident.severity,
        )
    except NoRunbookFound:
        log.warning("runbooks.none_attached", incident=incident.public_id)
        return None
    return {
        "incident_number": incident.number,
        "runbook_id": template.id,
        "content_hash": template.content_hash,
        "attached_at": now(),
        "instance": render_for(
            session=session, incident=incident, template=template, evidence=evidence
        ),
    }


def get(*, session: Session, number: int) -> RunbookInstance | None:
    return session.get(RunbookInstance, number)


def required_open(*, session: Session, number: int) -> list[str]:
    instance = get(session=session, number=number)
    if instance is None:
        return []
    return progress(iter_steps(instance.instance["phases"]))["required_open"]


def to_out(instance: RunbookInstance) -> dict[str, Any]:
    body = copy.deepcopy(instance.instance)
    body["attached_at"] = iso(instance.attached_at)
    body["progress"] = progress(iter_steps(body["phases"]))
    return body


def update_step(
    *,
    session: Session,
    incident: Incident,
    step_id: str,
    status: StepStatus,
    note: str | None,
    seqs: Sequence[int],
    actor: Actor,
) -> RunbookInstance:
    """Mark a step done, skipped or open again (reopening needs a reason)."""
    instance = get(session=session, number=incident.number)
    if instance is None:
        raise RunbookNotAttached(f"{incident.public_id} has no runbook")
    body = copy.deepcopy(instance.instance)
    steps: list[dict[str, Any]] = [s for p in body["phases"] for s in p["steps"]]
    step = next((s for s in steps if s["id"] == step_id), None)
    if step is None:
        raise StepNotFound(f"{instance.runbook_id} has no step {step_id!r}")
    try:
        check_step_update(step=step, status=status, note=note)
    except StepUpdateRejected as exc:
        raise StepRejected(str(exc), errors=[{"field": "note", "message": str(exc)}]) from exc
    if status is StepStatus.OPEN and not (note and note.strip()):
        raise StepRejected(
            f"reopening step {step_id!r} needs a note saying why",
            errors=[{"field": "note", "message": "required to reopen a step"}],
        )
    valid = evidence_mod.require_seqs(session=session, seqs=seqs)
    before = snapshot(incident)
    added = evidence_mod.link(session=session, incident=incident, seqs=valid, by=actor.label())
    incident.event_count += len(added)
    previous = step["status"]
    at = now()
    step.update(
        status=status.value,
        done_by=None if status is StepStatus.OPEN else actor.label(),
        done_at=None if status is StepStatus.OPEN else iso(at),
        note=note,
        evidence=sorted(set(step.get("evidence", [])) | set(valid)),
    )
    instance.instance = body  # a new object, so the JSON column is written
    record_update(
        at=at,
        session=session,
        incident=incident,
        actor=actor,
        action="incident.runbook.step",
        kind="runbook.step",
        changes=diff(before, snapshot(incident)),
        body=note,
        details={"step_id": step_id, "from": previous, "to": status.value, "seqs": added},
        attributes={"step_evidence": valid},
    )
    return instance


def swap(
    *,
    session: Session,
    incident: Incident,
    template: RunbookTemplate,
    reason: str,
    actor: Actor,
) -> RunbookInstance:
    """Replace the incident's runbook with a fresh instance of `template` (recorded)."""
    old = get(session=session, number=incident.number)
    previous = None
    if old is not None:
        previous = {"runbook_id": old.runbook_id, "content_hash": old.content_hash}
        session.delete(old)
        session.flush()  # the primary key is reused by the new instance below
    instance = RunbookInstance(
        incident_number=incident.number,
        runbook_id=template.id,
        content_hash=template.content_hash,
        attached_at=now(),
        instance=render_for(session=session, incident=incident, template=template),
    )
    session.add(instance)
    record_update(
        session=session,
        incident=incident,
        actor=actor,
        action="incident.runbook.swap",
        kind="runbook.swap",
        body=reason,
        details={
            "from": previous,
            "to": {"runbook_id": template.id, "content_hash": template.content_hash},
        },
    )
    return instance


def instance_for_incident(*, session: Session, number: int) -> RunbookInstance:
    instance = session.scalars(
        select(RunbookInstance).where(RunbookInstance.incident_number == number)
    ).first()
    if instance is None:
        raise RunbookNotAttached(f"INC-{number} has no runbook")
    return instance
