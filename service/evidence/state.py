"""State as of a time, reconstructed from the log alone.

Access: ``model.permission.grant`` / ``model.permission.revoke`` events on the resource
(``resource.type``, ``resource.id``) carry the grantee in ``attributes.grantee`` and the
permission in ``attributes.permission`` (both strings). A revoke without a permission
revokes everything the grantee held. Events with outcome ``failure`` or ``denied``
changed nothing and are skipped. Events apply in event-time order (seq breaks ties) up
to and including ``at``. A grant/revoke whose payload was erased cannot be read; its
seq is listed in ``unreadable_seqs`` so the answer never silently omits it.

Versions: the latest successful ``model.deploy`` event on the resource at or before
``at``; the version is the event's ``resource.version``.
"""

from __future__ import annotations

from datetime import datetime

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auditlog.models import LogPayload, LogRecord
from service.evidence.schemas import AccessState, Grant, VersionState
from service.logformat import format_time

GRANT = "model.permission.grant"
REVOKE = "model.permission.revoke"
DEPLOY = "model.deploy"
_NO_EFFECT = ("failure", "denied")


def _attr(body: str | None, name: str) -> str | None:
    if body is None:
        return None
    attributes = orjson.loads(body).get("attributes") or {}
    value = attributes.get(name)
    return value if isinstance(value, str) and value else None


def access_at(
    *, session: Session, resource_type: str, resource_id: str, at: datetime
) -> AccessState:
    stmt = (
        select(
            LogRecord.seq,
            LogRecord.time,
            LogRecord.action,
            LogRecord.actor_id,
            LogPayload.body,
        )
        .outerjoin(LogPayload, LogPayload.seq == LogRecord.seq)
        .where(
            LogRecord.resource_type == resource_type,
            LogRecord.resource_id == resource_id,
            LogRecord.action.in_((GRANT, REVOKE)),
            LogRecord.outcome.not_in(_NO_EFFECT),
            LogRecord.time <= format_time(at),
        )
        .order_by(LogRecord.time, LogRecord.seq)
    )
    held: dict[tuple[str, str], Grant] = {}
    unreadable: list[int] = []
    considered = 0
    for seq, time, action, actor_id, body in session.execute(stmt):
        considered += 1
        grantee, permission = _attr(body, "grantee"), _attr(body, "permission")
        if grantee is None:
            unreadable.append(seq)
        elif action == REVOKE and permission is None:
            held = {key: g for key, g in held.items() if key[0] != grantee}
        elif action == REVOKE and permission is not None:
            held.pop((grantee, permission), None)
        elif permission is None:
            unreadable.append(seq)
        else:
            held[(grantee, permission)] = Grant(
                grantee=grantee,
                permission=permission,
                granted_at=time,
                granted_by=actor_id,
                seq=seq,
            )
    return AccessState(
        resource_type=resource_type,
        resource_id=resource_id,
        at=format_time(at),
        grants=sorted(held.values(), key=lambda g: (g.grantee, g.permission)),
        events_considered=considered,
        unreadable_seqs=unreadable,
    )


def version_at(
    *, session: Session, resource_type: str, resource_id: str, at: datetime
) -> VersionState:
    row = session.execute(
        select(LogRecord.seq, LogRecord.time, LogRecord.actor_id, LogRecord.resource_version)
        .where(
            LogRecord.resource_type == resource_type,
            LogRecord.resource_id == resource_id,
            LogRecord.action == DEPLOY,
            LogRecord.outcome.not_in(_NO_EFFECT),
            LogRecord.time <= format_time(at),
        )
        .order_by(LogRecord.time.desc(), LogRecord.seq.desc())
        .limit(1)
    ).first()
    return VersionState(
        resource_type=resource_type,
        resource_id=resource_id,
        at=format_time(at),
        version=row.resource_version if row else None,
        deployed_at=row.time if row else None,
        deployed_by=row.actor_id if row else None,
        seq=row.seq if row else None,
    )
