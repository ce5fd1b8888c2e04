"""Erasure: delete an event's payload (attributes, raw) and log that it was done.

The chained record only carries `payload_digest`, so the chain and every Merkle proof
stay valid. `custody verify` and replay accept a missing payload only when an
`event.erase` record names its seq, so a payload deleted any other way is tampering.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.auditlog.chain import lock_head, record_internal
from service.auditlog.errors import EventNotFound
from service.auditlog.models import LogPayload, LogRecord
from service.auditlog.verify import ERASE_ACTION
from service.errors import Conflict


class AlreadyErased(Conflict):
    title = "Payload already erased"


def erase_payload(*, session: Session, seq: int, reason: str, actor: dict[str, str]) -> int:
    """Erase the payload of `seq`; return the seq of the `event.erase` record."""
    lock_head(session)  # first statement: erasures and appends are serialized
    row = session.execute(
        select(LogRecord.source, LogRecord.action).where(LogRecord.seq == seq)
    ).one_or_none()
    if row is None:
        raise EventNotFound(f"No event with seq {seq}")
    source, action = row
    if source == "custody" and (action == ERASE_ACTION or action.startswith("incident.")):
        # The investigation's own history (and the reasons for erasures) stays readable.
        raise Conflict(f"seq {seq} is Custody's record of {action}; it cannot be erased")
    deleted = session.execute(delete(LogPayload).where(LogPayload.seq == seq))
    if deleted.rowcount == 0:  # type: ignore[attr-defined]
        raise AlreadyErased(f"The payload of seq {seq} was already erased")
    return record_internal(
        session=session,
        action=ERASE_ACTION,
        actor=actor,
        resource={"type": "event", "id": str(seq)},
        attributes={"reason": reason, "erased_seq": seq, "source": source},
    )
