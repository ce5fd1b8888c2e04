"""Route: an incident exported as STIX 2.1 or as a MISP event (an audited read)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from service.auth.audit import audit_read
from service.auth.deps import require
from service.auth.schemas import Principal, Scope
from service.config import Settings
from service.deps import get_session, get_settings
from service.sharing.service import Format, export

router = APIRouter(prefix="/v1", tags=["incidents"])


@router.get("/incidents/{incident_id}/export")
def get_export(
    request: Request,
    incident_id: str,
    principal: Annotated[Principal, Depends(require(Scope.read))],
    session: Annotated[Session, Depends(get_session)],
    settings: Annotated[Settings, Depends(get_settings)],
    format: Annotated[Format, Query(description="stix (2.1 bundle) or misp (event JSON)")],
) -> dict[str, Any]:
    """The incident for peers, under its TLP marking: indicators (IP addresses, user
    agents, API keys as SHA-256 only), ATLAS and ATT&CK techniques, sightings of the
    evidence; no event payloads. TLP:RED incidents are refused (409)."""
    audit_read(session=session, request=request, principal=principal)
    session.commit()
    return export(
        session=session, incident_id=incident_id, fmt=format, producer=settings.sharing_producer
    )
