"""Finding incidents again, locking one for a change, and numbering new ones.

Opening an incident (by hand or from a rule firing) is orchestrated in
service.incidents.flows. Functions here never commit: the request or worker owns it.
"""

from __future__ import annotations

import re

from sqlalchemy import text, update
from sqlalchemy.orm import Session

from service.incidents.errors import IncidentNotFound
from service.incidents.models import Incident

_ID = re.compile(r"^(?:INC-)?([1-9][0-9]{0,17})$", re.IGNORECASE)


def parse_id(incident_id: str) -> int:
    match = _ID.match(incident_id.strip())
    if match is None:
        raise IncidentNotFound(f"No incident {incident_id!r} (ids look like INC-7)")
    return int(match.group(1))


def get(*, session: Session, incident_id: str) -> Incident:
    incident = session.get(Incident, parse_id(incident_id))
    if incident is None:
        raise IncidentNotFound(f"No incident {incident_id}")
    return incident


def lock(*, session: Session, incident_id: str) -> Incident:
    """Lock the incident row for the rest of the transaction and return it fresh.

    The no-op UPDATE comes first so SQLite takes its write lock before reading (a read
    snapshot could not be upgraded once another writer committed) and PostgreSQL makes
    concurrent writers of this incident queue, then re-read the committed row.
    """
    number = parse_id(incident_id)
    found = session.execute(
        update(Incident).where(Incident.number == number).values(version=Incident.version)
    )
    if found.rowcount == 0:  # type: ignore[attr-defined]
        raise IncidentNotFound(f"No incident {incident_id}")
    incident = session.get(Incident, number, populate_existing=True)
    assert incident is not None
    return incident


def lock_counter(session: Session) -> None:
    session.execute(text("UPDATE incident_counter SET value = value WHERE id = 1"))
