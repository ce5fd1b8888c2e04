"""Routes of the incidents domain: thin wrappers over service/changes/queries."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy.orm import Session

from service.auditlog.schemas import Timestamp
from service.auth.audit import audit_read
from service.auth.deps import require
from service.auth.schemas import Principal, Scope
from service.config import Settings
from service.deps import get_session, get_settings
from service.errors import InvalidInput
from service.evidence.anchors import anchor_opened
from service.incidents import changes, entity_store, flows, linking, queries, report, stats
from service.incidents import evidence as evidence_mod
from service.incidents import service as incidents
from service.incidents.custody import Actor
from service.incidents.entities import TYPES as ENTITY_TYPES
from service.incidents.entities import parse as parse_entity
from service.incidents.errors import PreconditionRequired
from service.incidents.schemas import (
    CommentIn,
    EntityReport,
    EvidenceAdded,
    EvidenceIn,
    EvidencePage,
    IncidentCreate,
    IncidentOut,
    IncidentPage,
    IncidentPatch,
    IncidentStats,
    LinkIn,
    MergeIn,
    Severity,
    SortKey,
    Status,
    TimelineOut,
    TimelinePage,
)
from service.incidents.sla import policy_of
from service.taxonomy import Category

ENTITY_PATTERN = rf"^({'|'.join(ENTITY_TYPES)}):[\s\S]+$"
router = APIRouter(prefix="/v1/incidents", tags=["incidents"])
Read = Annotated[Principal, Depends(require(Scope.read))]
Respond = Annotated[Principal, Depends(require(Scope.respond))]
Db = Annotated[Session, Depends(get_session)]


def _etag(version: int) -> str:
    return f'"{version}"'


def _if_match(value: str | None) -> int | None:
    """The version named by If-Match; None for `*` (any version)."""
    if value is None:
        raise PreconditionRequired("Send If-Match with the ETag of the incident you read")
    tag = value.strip().removeprefix("W/").strip('"')
    if tag == "*":
        return None
    if not tag.isdigit() or len(tag) > 18:
        # Malformed, not stale: a 422 (a 412 would say "someone changed it meanwhile").
        raise InvalidInput(
            f'If-Match {value!r} is not an entity tag; send the ETag you read, e.g. "3"',
            errors=[{"field": "If-Match", "message": "not an entity tag"}],
        )
    return int(tag)


def _split(values: list[str] | None, allowed: type[StrEnum], name: str) -> list[str]:
    # Both `?status=open&status=acknowledged` and `?status=open,acknowledged` work.
    out = [v.strip() for item in values or [] for v in item.split(",") if v.strip()]
    known = {e.value for e in allowed}
    bad = [v for v in out if v not in known]
    if bad:
        message = f"unknown {name} {', '.join(bad)}; one of {', '.join(sorted(known))}"
        raise InvalidInput(message, errors=[{"field": name, "message": message}])
    return out


def _entity(spec: str | None) -> tuple[str, str] | None:
    if spec is None:
        return None
    try:
        return parse_entity(spec)
    except ValueError as exc:
        raise InvalidInput(str(exc), errors=[{"field": "entity", "message": str(exc)}]) from None


@router.get("", response_model=IncidentPage)
def list_incidents(
    _: Read,
    session: Db,
    status: Annotated[list[str] | None, Query(description="repeat or comma-separate")] = None,
    severity: Annotated[list[str] | None, Query(description="repeat or comma-separate")] = None,
    assignee: str | None = None,
    rule_id: str | None = None,
    category: Category | None = None,
    tag: str | None = None,
    q: Annotated[str | None, Query(max_length=200, description="text in title")] = None,
    opened_since: Timestamp | None = None,
    opened_until: Timestamp | None = None,
    updated_since: Timestamp | None = None,
    updated_until: Timestamp | None = None,
    entity: Annotated[
        str | None,
        Query(
            pattern=ENTITY_PATTERN,
            description="TYPE:VALUE, e.g. ip:203.0.113.7 or actor:alice@example.com",
        ),
    ] = None,
    overdue: Annotated[bool | None, Query(description="an SLA clock has run out")] = None,
    sort: Annotated[str, Query(pattern=r"^-?(opened|updated|severity)$")] = "-opened",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 50,
) -> Response:
    filters = queries.IncidentFilters(
        status=_split(status, Status, "status"),
        severity=_split(severity, Severity, "severity"),
        assignee=assignee,
        rule_id=rule_id,
        category=category.value if category else None,
        tag=tag,
        q=q,
        opened_since=opened_since,
        opened_until=opened_until,
        updated_since=updated_since,
        updated_until=updated_until,
        entity=_entity(entity),
        overdue=overdue,
    )
    items, next_cursor = queries.page(
        session=session,
        filters=filters,
        sort=SortKey(sort.lstrip("-")),
        descending=sort.startswith("-"),
        cursor=cursor,
        limit=limit,
    )
    # Already in the IncidentOut shape: skip re-validating every item (the hot path).
    return Response(orjson.dumps({"items": items, "next_cursor": next_cursor}),
                    media_type="application/json")  # fmt: skip


@router.post("", response_model=IncidentOut, status_code=201)
def create_incident(
    principal: Respond,
    body: IncidentCreate,
    response: Response,
    session: Db,
    settings: Annotated[Settings, Depends(get_settings)],
) -> IncidentOut:
    incident = flows.open_incident(
        session=session,
        actor=Actor.of(principal),
        title=body.title,
        description=body.description,
        severity=body.severity,
        assignee=body.assignee,
        tags=body.tags,
        category=body.category.value if body.category else None,
        tlp=body.tlp.value,
        evidence_seqs=body.evidence,
        runbook_id=body.runbook_id,
        policy=flows.Policy.of(settings),
    )
    anchor_opened(session=session, key_path=settings.signing_key_path)
    session.refresh(incident)  # the anchor was set by a bulk UPDATE
    session.commit()
    out = queries.one(session=session, incident=incident)
    response.headers["ETag"] = _etag(out.version)
    response.headers["Location"] = f"/v1/incidents/{out.id}"
    return out


@router.get("/stats", response_model=IncidentStats)
def incident_stats(
    _: Read,
    session: Db,
    since: Annotated[Timestamp | None, Query(description="opened at or after")] = None,
    until: Annotated[Timestamp | None, Query(description="opened before")] = None,
) -> IncidentStats:
    return stats.compute(session=session, since=since, until=until)


@router.get("/{incident_id}", response_model=IncidentOut)
def get_incident(_: Read, incident_id: str, response: Response, session: Db) -> IncidentOut:
    out = queries.one(
        session=session, incident=incidents.get(session=session, incident_id=incident_id)
    )
    response.headers["ETag"] = _etag(out.version)
    return out


@router.patch("/{incident_id}", response_model=IncidentOut)
def patch_incident(
    principal: Respond,
    incident_id: str,
    body: IncidentPatch,
    response: Response,
    session: Db,
    settings: Annotated[Settings, Depends(get_settings)],
    if_match: Annotated[str | None, Header()] = None,
) -> IncidentOut:
    incident = changes.update_incident(
        session=session,
        incident_id=incident_id,
        patch=body,
        if_match=_if_match(if_match),
        actor=Actor.of(principal),
        sla=policy_of(settings),
    )
    session.commit()
    out = queries.one(session=session, incident=incident)
    response.headers["ETag"] = _etag(out.version)
    return out


@router.post("/{incident_id}/comments", response_model=TimelineOut, status_code=201)
def post_comment(principal: Respond, incident_id: str, body: CommentIn, session: Db) -> TimelineOut:
    entry = changes.add_comment(
        session=session, incident_id=incident_id, body=body.body, actor=Actor.of(principal)
    )
    session.commit()
    return report.timeline_out(entry)


@router.get("/{incident_id}/timeline", response_model=TimelinePage)
def get_timeline(
    _: Read,
    incident_id: str,
    session: Db,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> TimelinePage:
    incident = incidents.get(session=session, incident_id=incident_id)
    entries, next_cursor = queries.timeline(
        session=session, number=incident.number, after_id=int(cursor or 0), limit=limit
    )
    return TimelinePage(items=[report.timeline_out(e) for e in entries], next_cursor=next_cursor)


@router.get("/{incident_id}/events", response_model=EvidencePage)
def get_events(
    principal: Read,
    request: Request,
    incident_id: str,
    session: Db,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EvidencePage:
    # The audit record first: a write as the first statement (see incidents.service.lock).
    audit_read(session=session, request=request, principal=principal)
    session.commit()
    incident = incidents.get(session=session, incident_id=incident_id)
    items, next_cursor = evidence_mod.page(
        session=session, number=incident.number, after_seq=int(cursor or 0), limit=limit
    )
    return EvidencePage(items=items, next_cursor=next_cursor)


@router.post("/{incident_id}/evidence", response_model=EvidenceAdded)
def post_evidence(
    principal: Respond, incident_id: str, body: EvidenceIn, response: Response, session: Db
) -> EvidenceAdded:
    incident, added, already = changes.add_evidence(
        session=session, incident_id=incident_id, seqs=body.seqs, actor=Actor.of(principal)
    )
    session.commit()
    out = queries.one(session=session, incident=incident)
    response.headers["ETag"] = _etag(out.version)
    return EvidenceAdded(added=added, already=already, incident=out)


@router.get(
    "/{incident_id}/report",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/markdown": {}}}},
)
def get_report(
    principal: Read, request: Request, incident_id: str, session: Db
) -> PlainTextResponse:
    # The audit record first: a write as the first statement (see incidents.service.lock).
    audit_read(session=session, request=request, principal=principal)
    session.commit()
    incident = incidents.get(session=session, incident_id=incident_id)
    text = report.markdown(session=session, incident=incident)
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")


@router.post("/{incident_id}/links", response_model=IncidentOut)
def post_link(
    principal: Respond, incident_id: str, body: LinkIn, response: Response, session: Db
) -> IncidentOut:
    """Mark two incidents as related; both list each other under `related`."""
    incident = linking.link(
        session=session, incident_id=incident_id, other_id=body.incident, actor=Actor.of(principal)
    )
    session.commit()
    out = queries.one(session=session, incident=incident)
    response.headers["ETag"] = _etag(out.version)
    return out


@router.post("/{incident_id}/merge", response_model=IncidentOut)
def post_merge(
    principal: Respond, incident_id: str, body: MergeIn, response: Response, session: Db
) -> IncidentOut:
    """Merge this incident into `into`: it becomes a duplicate of it, its evidence and
    entities move over, and both timelines (and the log) keep the whole history."""
    target = linking.merge(
        session=session, incident_id=incident_id, into_id=body.into, actor=Actor.of(principal)
    )
    session.commit()
    out = queries.one(session=session, incident=target)
    response.headers["ETag"] = _etag(out.version)
    return out


entities_router = APIRouter(prefix="/v1/entities", tags=["incidents"])


@entities_router.get("/{entity_type}/{value:path}", response_model=EntityReport)
def get_entity(
    _: Read,
    entity_type: Annotated[str, Path(pattern=f"^({'|'.join(ENTITY_TYPES)})$")],
    value: str,
    session: Db,
) -> EntityReport:
    """The incidents whose evidence carries this entity, with counts and first/last seen."""
    kind, value = _entity(f"{entity_type}:{value}") or (entity_type, value)
    return EntityReport.model_validate(entity_store.lookup(session=session, kind=kind, value=value))
