"""What an agent could do, and for whom, at a time: reconstructed from the log alone.

- Permissions: ``model.permission.grant`` / ``revoke`` events (any resource) whose
  ``attributes.grantee`` is the agent, applied as for ``GET /v1/state/access``.
- Tools: the latest successful ``agent.create`` / ``agent.update`` of the agent
  (``resource: {type: agent, id}``) carrying ``attributes.allowed_tools``.
- Principals: the distinct ``attributes.on_behalf_of`` of what the agent did (actor id,
  type ``agent``) in ``[since, at]``.

Erased payloads cannot be read; their seqs are listed, never silently skipped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auditlog.models import LogPayload, LogRecord
from service.evidence.schemas import AgentGrant, AgentPrincipal, AgentState, AgentTools
from service.evidence.state import GRANT, REVOKE
from service.logformat import format_time

_NO_EFFECT = ("failure", "denied")
_DECLARE = ("agent.create", "agent.update")


def _attributes(body: str | None) -> dict[str, Any] | None:
    if body is None:
        return None
    value = orjson.loads(body).get("attributes")
    return value if isinstance(value, dict) else {}


def _grants(session: Session, agent_id: str, at: str) -> tuple[list[AgentGrant], int]:
    needle = '"grantee":' + orjson.dumps(agent_id).decode()  # payloads are JCS: no spaces
    stmt = (
        select(
            LogRecord.seq, LogRecord.time, LogRecord.action, LogRecord.actor_id,
            LogRecord.resource_type, LogRecord.resource_id, LogPayload.body,
        )
        .join(LogPayload, LogPayload.seq == LogRecord.seq)
        .where(
            LogRecord.action.in_((GRANT, REVOKE)),
            LogRecord.outcome.not_in(_NO_EFFECT),
            LogRecord.time <= at,
            LogPayload.body.contains(needle, autoescape=True),
        )
        .order_by(LogRecord.time, LogRecord.seq)
    )  # fmt: skip
    held: dict[tuple[str, str, str], AgentGrant] = {}
    considered = 0
    for seq, time, action, actor_id, rtype, rid, body in session.execute(stmt):
        attrs = _attributes(body) or {}
        if attrs.get("grantee") != agent_id:
            continue
        considered += 1
        permission = attrs.get("permission")
        resource = (rtype or "", rid or "")
        if action == REVOKE:
            held = {
                k: g
                for k, g in held.items()
                if k[:2] != resource or (isinstance(permission, str) and k[2] != permission)
            }
        elif isinstance(permission, str) and permission:
            held[(*resource, permission)] = AgentGrant(
                resource_type=resource[0], resource_id=resource[1], permission=permission,
                granted_at=time, granted_by=actor_id, seq=seq,
            )  # fmt: skip
    return sorted(held.values(), key=lambda g: (g.resource_type, g.resource_id)), considered


def _tools(session: Session, agent_id: str, at: str) -> tuple[AgentTools | None, list[int]]:
    stmt = (
        select(LogRecord.seq, LogRecord.time, LogPayload.body)
        .outerjoin(LogPayload, LogPayload.seq == LogRecord.seq)
        .where(
            LogRecord.action.in_(_DECLARE),
            LogRecord.resource_type == "agent",
            LogRecord.resource_id == agent_id,
            LogRecord.outcome.not_in(_NO_EFFECT),
            LogRecord.time <= at,
        )
        .order_by(LogRecord.time.desc(), LogRecord.seq.desc())
    )
    unreadable: list[int] = []
    for seq, time, body in session.execute(stmt):
        attrs = _attributes(body)
        if attrs is None:
            unreadable.append(seq)
            continue
        tools = attrs.get("allowed_tools")
        if isinstance(tools, list):
            names = sorted(t for t in tools if isinstance(t, str))
            return AgentTools(tools=names, declared_at=time, seq=seq), unreadable
    return None, unreadable


def agent_at(*, session: Session, agent_id: str, at: datetime, since: datetime) -> AgentState:
    at_text, since_text = format_time(at), format_time(since)
    grants, considered = _grants(session, agent_id, at_text)
    tools, unreadable = _tools(session, agent_id, at_text)
    acted = session.execute(
        select(LogRecord.seq, LogRecord.time, LogRecord.action, LogPayload.body)
        .outerjoin(LogPayload, LogPayload.seq == LogRecord.seq)
        .where(
            LogRecord.actor_id == agent_id,
            LogRecord.actor_type == "agent",
            LogRecord.time >= since_text,
            LogRecord.time <= at_text,
        )
        .order_by(LogRecord.seq)
    )
    principals: dict[str, AgentPrincipal] = {}
    for seq, time, action, body in acted:
        attrs = _attributes(body)
        if attrs is None:
            unreadable.append(seq)
            continue
        who = attrs.get("on_behalf_of")
        if not isinstance(who, str) or not who:
            continue
        p = principals.get(who)
        if p is None:
            principals[who] = AgentPrincipal(
                principal=who, first_seen=time, last_seen=time, events=1, actions=[action]
            )
        else:
            p.first_seen, p.last_seen = min(p.first_seen, time), max(p.last_seen, time)
            p.events += 1
            if action not in p.actions:
                p.actions.append(action)
    return AgentState(
        agent_id=agent_id,
        at=at_text,
        since=since_text,
        grants=grants,
        allowed_tools=tools,
        on_behalf_of=sorted(principals.values(), key=lambda p: p.principal),
        grant_events_considered=considered,
        unreadable_seqs=sorted(unreadable),
    )
