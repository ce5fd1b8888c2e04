"""Exporting an incident for sharing, refused under TLP:RED."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy.orm import Session

from service.errors import Conflict
from service.incidents import service as incidents
from service.sharing import misp, stix
from service.sharing.content import gather
from service.sharing.tlp import Tlp


class Format(enum.StrEnum):
    stix = "stix"
    misp = "misp"


class SharingRefused(Conflict):
    title = "Incident not shareable"


def export(*, session: Session, incident_id: str, fmt: Format, producer: str) -> dict[str, Any]:
    incident = incidents.get(session=session, incident_id=incident_id)
    content = gather(session=session, incident=incident)
    if content.tlp is Tlp.red:
        raise SharingRefused(
            f"{incident.public_id} is TLP:RED: for the named recipients only, never exported",
            errors=[{"field": "tlp", "message": "TLP:RED blocks export"}],
        )
    if fmt is Format.stix:
        return stix.bundle(content, producer=producer)
    return misp.event(content, producer=producer)
