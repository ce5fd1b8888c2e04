"""Audited reads: each request that reads the trail leaves one `audit.read` record.

One record per request (never per row), holding the route and query, not the response.
"""

from __future__ import annotations

import structlog
from fastapi import Request
from sqlalchemy.orm import Session

from service.auditlog.chain import record_internal
from service.auth.schemas import Principal


def audit_read(*, session: Session, request: Request, principal: Principal) -> int:
    return record_internal(
        session=session,
        action="audit.read",
        actor=principal.actor(),
        resource={"type": "route", "id": request.url.path},
        attributes={
            "route": request.url.path,
            "query": dict(request.query_params),
            "token_name": principal.name,
        },
        request_id=structlog.contextvars.get_contextvars().get("request_id"),
    )
