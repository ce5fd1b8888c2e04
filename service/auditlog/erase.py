"""Erasure: delete an event's payload (attributes, raw) and log that it was done.

The chained record only carries `payload_digest`, so the chain and every Merkle proof
stay valid. `custody verify` and replay accept a missing payload only when an
`event.erase` record names its seq, so a payload deleted any other way is tampering.

Refused (409): Custody's own records and the records of what was read or minted
(`PROTECTED_ACTIONS`), and anything held (see service.holds). On PostgreSQL the
service's role cannot delete payloads at all: the `custody_erase_payload` function
(SECURITY DEFINER, created by migration 0011) deletes the payload and appends the erase
record in one statement.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import delete, exists, select, text
from sqlalchemy.orm import Session

from service.auditlog.chain import lock_head, record_internal
from service.auditlog.errors import EventNotFound
from service.auditlog.models import LogPayload, LogRecord
from service.auditlog.verify import ERASE_ACTION
from service.errors import Conflict
from service.holds.errors import ErasureRefused
from service.holds.service import holds_on

# What an admin read or minted, and failed logins: the trail of the trail. Erasing them
# would let an admin hide what they did.
PROTECTED_ACTIONS = frozenset({ERASE_ACTION, "audit.read", "apikey.create", "auth.login.failure"})


class AlreadyErased(Conflict):
    title = "Payload already erased"


class NotErasable(Conflict):
    title = "Record cannot be erased"


def erase_payload(*, session: Session, seq: int, reason: str, actor: dict[str, str]) -> int:
    """Erase the payload of `seq`; return the seq of the `event.erase` record."""
    lock_head(session)  # first statement: erasures and appends are serialized
    row = session.execute(
        select(
            LogRecord.source,
            LogRecord.action,
            LogRecord.actor_id,
            LogRecord.resource_type,
            LogRecord.resource_id,
            LogRecord.time,
        ).where(LogRecord.seq == seq)
    ).one_or_none()
    if row is None:
        raise EventNotFound(f"No event with seq {seq}")
    if row.source == "custody" or row.action in PROTECTED_ACTIONS:
        raise NotErasable(
            f"seq {seq} is a record of {row.action} from {row.source}; records of Custody "
            "itself and of what was read or minted cannot be erased"
        )
    held = holds_on(
        session=session,
        seq=seq,
        actor_id=row.actor_id,
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        time=row.time,
    )
    if held:
        raise ErasureRefused(
            f"seq {seq} cannot be erased: " + "; ".join(h.why for h in held),
            holds=[h.as_json() for h in held],
        )
    if not session.scalar(select(exists().where(LogPayload.seq == seq))):
        raise AlreadyErased(f"The payload of seq {seq} was already erased")
    record: dict[str, Any] = {
        "action": ERASE_ACTION,
        "actor": actor,
        "resource": {"type": "event", "id": str(seq)},
        "attributes": {"reason": reason, "erased_seq": seq, "source": row.source},
    }
    if session.get_bind().dialect.name == "postgresql":
        return _erase_through_function(session=session, seq=seq, record=record)
    # The erase record first: a payload may only disappear once a record names it.
    erase_seq = record_internal(session=session, **record)
    session.execute(delete(LogPayload).where(LogPayload.seq == seq))
    return erase_seq


def _erase_through_function(*, session: Session, seq: int, record: dict[str, Any]) -> int:
    """Have the append code compute the erase record (in a savepoint that is rolled back),
    then hand the rows to `custody_erase_payload`, which checks them, appends them and
    deletes the payload. The record format is built in one place only, and the runtime
    role needs no DELETE on log_payloads."""
    savepoint = session.begin_nested()
    try:
        erase_seq = record_internal(session=session, **record)
        rows = [
            session.execute(
                # Table names are constants: every column, whatever the schema version.
                text(f"SELECT * FROM {table} WHERE seq = :seq"),  # noqa: S608
                {"seq": erase_seq},
            )
            .mappings()
            .one()
            for table in ("log_records", "log_payloads")
        ]
    finally:
        savepoint.rollback()
    record_json, payload_json = (orjson.dumps(dict(row)).decode() for row in rows)
    done = session.execute(
        text("SELECT custody_erase_payload(:seq, CAST(:rec AS jsonb), CAST(:pay AS jsonb))"),
        {"seq": seq, "rec": record_json, "pay": payload_json},
    ).scalar_one()
    assert done == erase_seq  # the function appends exactly where the rehearsal did
    return int(done)
